"""powermonitor: see, record and understand what your Tuya WiFi smart plugs draw.

The public API is small on purpose; everything else is internal and may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .client.device import TuyaDevice
    from .client.plug import Plug

__version__ = "0.1.0"

_LAZY = {"TuyaDevice": ".client.device", "Plug": ".client.plug"}
"""Imported on first use, so ``import powermonitor.protocol`` (sans-IO) does not pull in
asyncio, sockets and the client through this package's ``__init__``."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
