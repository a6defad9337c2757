"""powermonitor: see, record and understand what your Tuya WiFi smart plugs draw.

The public API is small on purpose; everything else is internal and may change.
"""

from __future__ import annotations

from .client.device import TuyaDevice
from .client.plug import Plug
from .dps import DpMapping, interpret
from .errors import (
    ConnectionClosedError,
    DeviceReportedError,
    DeviceTimeoutError,
    HandshakeError,
    IntegrityError,
    KeyOrVersionError,
    PowermonitorError,
    ProtocolError,
    UnreachableError,
    UsageError,
)
from .models import DeviceInfo, Reading, mask_key

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
