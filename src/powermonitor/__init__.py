"""powermonitor: see, record and understand what your Tuya WiFi smart plugs draw."""

from __future__ import annotations

__version__ = "0.1.0"
