"""The package's shape: the sans-IO protocol imports no I/O, and the public API is pinned."""

from __future__ import annotations

import json
import subprocess
import sys

import powermonitor

PUBLIC_API = [
    "ConnectionClosedError", "DeviceInfo", "DeviceReportedError", "DeviceTimeoutError",
    "DpMapping", "HandshakeError", "IntegrityError", "KeyOrVersionError", "Plug",
    "PowermonitorError", "ProtocolError", "Reading", "TuyaDevice", "UnreachableError",
    "UsageError", "__version__", "interpret", "mask_key",
]


def _modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60)
    return list(json.loads(out.stdout))


def test_the_protocol_pulls_in_no_asyncio_sockets_or_client() -> None:
    loaded = _modules_after(
        "import powermonitor.protocol, powermonitor.protocol.connection, "
        "powermonitor.protocol.discovery, powermonitor.protocol.frames, "
        "powermonitor.protocol.crypto, powermonitor.protocol.versions"
    )
    assert "powermonitor.protocol.connection" in loaded  # the import did happen
    forbidden = {"asyncio", "socket", "ssl", "selectors", "click"}
    found = sorted(m for m in loaded if m in forbidden or m.startswith((
        "powermonitor.client", "powermonitor.transport", "powermonitor.cli",
        "powermonitor.monitor")))
    assert found == []


def test_the_public_api_is_pinned_and_resolves() -> None:
    assert sorted(powermonitor.__all__) == sorted(PUBLIC_API)
    for name in powermonitor.__all__:
        assert getattr(powermonitor, name) is not None, name
    assert powermonitor.Plug.__module__ == "powermonitor.client.plug"  # loaded on first use
