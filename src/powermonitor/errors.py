"""One exception tree for everything powermonitor raises.

Every error carries a message a user can act on and a stable ``exit_code`` that the CLI
returns (documented in the README "Exit codes" table): the exit code is a class attribute, so
the CLI classifies by type, never by message text. ``kind`` is the short word the monitor
shows for a plug that is offline because of it. A test checks that the README documents the
exit code of every error class.
"""

from __future__ import annotations

import os


class PowermonitorError(Exception):
    """Base of every error raised by powermonitor."""

    exit_code: int = 1
    kind: str = "error"


class UsageError(PowermonitorError):
    """Bad arguments or configuration supplied by the user (e.g. a key that is not 16 chars)."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file, or a change to it, is invalid (or cannot be read or written).

    The message names the file and, where known, the line: ``config.toml:12: plug 'fridge':
    the local key must be exactly 16 characters (got 15)``. ``path``/``line``/``column`` carry
    the same facts for programs; ``reason`` is the message without the location.
    """

    exit_code = 2

    def __init__(
        self,
        reason: str,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = "" if path is None else os.fspath(path)
        if where and line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column


class MissingKeyError(UsageError):
    """A configured plug has no local key yet, and its protocol version needs one.

    Such a plug may be in the config (``scan --add`` saves what it heard, the key comes later
    from ``devices set`` or ``wizard``) but is not watched until its key is set.
    """

    kind = "config"


class UnknownVersionError(PowermonitorError, ValueError):
    """A protocol version that does not exist (``"3.9"``). Raised by the protocol layer, which
    knows the versions; the CLI and the config report it as bad input (exit 2)."""

    exit_code = 2


class UnreachableError(PowermonitorError, ConnectionError):
    """The plug could not be reached: connection refused, host unreachable, or the link dropped."""

    exit_code = 3
    kind = "unreachable"


class ConnectionClosedError(UnreachableError):
    """The plug closed a connection it had been answering on (idle timeout, reboot, dropped us)."""


class PlugBusyError(ConnectionClosedError):
    """The plug accepted the connection, then closed it before answering anything.

    Plugs take one client at a time: another app (Smart Life, Home Assistant, a running
    ``powermonitor run``) holds the connection, or the plug drops a protocol version it does
    not speak. Retried like any lost connection; exit code 8.
    """

    exit_code = 8
    kind = "busy"


class DeviceTimeoutError(PowermonitorError, TimeoutError):
    """The plug did not answer in time. Also an ``asyncio.TimeoutError`` (same class on 3.11+)."""

    exit_code = 4
    kind = "timeout"


class KeyOrVersionError(PowermonitorError):
    """The plug answered but we could not understand it: local key or protocol version is wrong."""

    exit_code = 5
    kind = "key"


class IntegrityError(KeyOrVersionError):
    """A frame failed its CRC / HMAC / GCM check, or did not decrypt to valid data."""


class HandshakeError(KeyOrVersionError):
    """3.4/3.5 session-key negotiation failed (the plug rejected or garbled our handshake)."""


class DeviceReportedError(PowermonitorError):
    """The plug returned an error status (retcode != 0), e.g. ``json obj data unvalid``."""

    exit_code = 6
    kind = "device"

    def __init__(self, message: str, device_message: str = "") -> None:
        super().__init__(message)
        self.device_message = device_message


class ProtocolError(PowermonitorError):
    """The peer sent bytes that are not a valid Tuya frame (garbage, bad length, bad prefix)."""

    exit_code = 7
    kind = "protocol"


class LimitExceededError(ProtocolError):
    """The plug broke a safety cap (too many data points, pushes or bytes; see ``limits.py``).

    The connection is dropped so that one misbehaving plug cannot grow memory or starve the
    others; the monitor reconnects after its backoff.
    """


class LocalProtocolError(PowermonitorError):
    """We asked the protocol core for something illegal in its current state (a bug, not the peer)."""

    exit_code = 70


class StorageError(PowermonitorError):
    """The database could not be opened, read or written; the message names the file or server.

    Raised for a file that is not a powermonitor database (or is corrupt), a schema written by a
    newer powermonitor, a full disk, a locked file, or a PostgreSQL server that cannot be reached.
    """

    exit_code = 9


EXIT_INTERRUPTED = 130

__all__ = [
    "EXIT_INTERRUPTED",
    "ConfigError",
    "ConnectionClosedError",
    "DeviceReportedError",
    "DeviceTimeoutError",
    "HandshakeError",
    "IntegrityError",
    "KeyOrVersionError",
    "LimitExceededError",
    "LocalProtocolError",
    "PlugBusyError",
    "PowermonitorError",
    "ProtocolError",
    "StorageError",
    "UnknownVersionError",
    "UnreachableError",
    "UsageError",
]
