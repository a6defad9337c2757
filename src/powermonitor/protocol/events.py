"""Events the protocol core emits from received bytes (frozen, slotted, cheap to create)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """3.4/3.5 key negotiation finished; requests may flow (emitted on both roles)."""


# ----- received by the client role -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusReply:
    """A reply that carries data points: to a query, or a control reply with the new values."""

    seqno: int
    cmd: int
    dps: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DpsPush:
    """An asynchronous STATUS (cmd 8) frame: only the DPs that changed."""

    seqno: int
    dps: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ack:
    """An empty reply (control, refresh): the data, if any, follows as a :class:`DpsPush`."""

    seqno: int
    cmd: int


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    seqno: int


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON reply without data points (rare; kept so nothing the plug says is lost)."""

    seqno: int
    cmd: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceErrorReply:
    """The plug reported an error (retcode != 0 or an error text such as 'json obj data unvalid')."""

    seqno: int
    cmd: int
    message: str
    retcode: int | None = None


# ----- received by the device role ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """Read data points; ``dp_ids`` is None for "all" (DP_QUERY) or the list asked (device22)."""

    seqno: int
    cmd: int
    dp_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ControlRequest:
    seqno: int
    cmd: int
    dps: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    seqno: int


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """UPDATEDPS: re-measure these DPs and push the ones that changed."""

    seqno: int
    dp_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnknownRequest:
    seqno: int
    cmd: int
    data: dict[str, Any] | None


Event = (
    SessionEstablished
    | StatusReply
    | DpsPush
    | Ack
    | HeartbeatAck
    | Reply
    | DeviceErrorReply
    | QueryRequest
    | ControlRequest
    | HeartbeatRequest
    | RefreshRequest
    | UnknownRequest
)
