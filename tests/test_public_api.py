"""The public API is pinned: a change to it is a decision, made here on purpose.
(The protocol's import layering is tested in tests/protocol/test_hostile.py.)"""

from __future__ import annotations

import powermonitor

PUBLIC_API = [
    "ConnectionClosedError", "DeviceInfo", "DeviceReportedError", "DeviceTimeoutError",
    "DpMapping", "HandshakeError", "IntegrityError", "KeyOrVersionError", "Plug", "PlugBusyError",
    "PowermonitorError", "ProtocolError", "Reading", "TuyaDevice", "UnreachableError",
    "UsageError", "__version__", "interpret", "mask_key",
]


def test_the_public_api_is_pinned_and_resolves() -> None:
    assert sorted(powermonitor.__all__) == sorted(PUBLIC_API)
    for name in powermonitor.__all__:
        assert getattr(powermonitor, name) is not None, name
    assert powermonitor.Plug.__module__ == "powermonitor.client.plug"  # loaded on first use


def test_the_lazy_client_classes_are_kept_once_imported() -> None:
    """``powermonitor.Plug`` per poll must not run an import each time (module __getattr__)."""
    from powermonitor.client.device import TuyaDevice
    from powermonitor.client.plug import Plug

    assert powermonitor.Plug is Plug and powermonitor.TuyaDevice is TuyaDevice
    assert vars(powermonitor)["Plug"] is Plug and vars(powermonitor)["TuyaDevice"] is TuyaDevice
