"""powermonitor: see, record and understand what your Tuya WiFi smart plugs draw.

The public API is small on purpose; everything else is internal and may change.
The asyncio client (``Plug``, ``TuyaDevice``) is imported on first use, so that importing a
pure part (``powermonitor.protocol``, ``powermonitor.dps``) does not pull in asyncio and sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dps import DpMapping, interpret
from .errors import (
    ConnectionClosedError,
    DeviceReportedError,
    DeviceTimeoutError,
    HandshakeError,
    IntegrityError,
    KeyOrVersionError,
    PlugBusyError,
    PowermonitorError,
    ProtocolError,
    UnreachableError,
    UsageError,
)
from .models import DeviceInfo, Reading, mask_key

if TYPE_CHECKING:
    from .client.device import TuyaDevice
    from .client.plug import Plug

__version__ = "0.1.0"

__all__ = [
    "ConnectionClosedError",
    "DeviceInfo",
    "DeviceReportedError",
    "DeviceTimeoutError",
    "DpMapping",
    "HandshakeError",
    "IntegrityError",
    "KeyOrVersionError",
    "Plug",
    "PlugBusyError",
    "PowermonitorError",
    "ProtocolError",
    "Reading",
    "TuyaDevice",
    "UnreachableError",
    "UsageError",
    "__version__",
    "interpret",
    "mask_key",
]


def __getattr__(name: str) -> Any:
    """Import the asyncio client lazily (PEP 562), once: the class is then kept as a module
    attribute, so ``powermonitor.Plug(...)`` per poll does not run an import each time."""
    found: type
    if name == "Plug":
        from .client.plug import Plug as found
    elif name == "TuyaDevice":
        from .client.device import TuyaDevice as found
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = found
    return found
