"""Tuya LAN command codes (see docs/protocol.md) and which ones go without a version header."""

from __future__ import annotations

from enum import IntEnum


class Cmd(IntEnum):
    UDP = 0x00
    AP_CONFIG = 0x01
    SESS_KEY_NEG_START = 0x03
    SESS_KEY_NEG_RESP = 0x04
    SESS_KEY_NEG_FINISH = 0x05
    CONTROL = 0x07
    STATUS = 0x08
    HEART_BEAT = 0x09
    DP_QUERY = 0x0A
    CONTROL_NEW = 0x0D
    DP_QUERY_NEW = 0x10
    UPDATEDPS = 0x12
    UDP_NEW = 0x13
    BOARDCAST_LPV34 = 0x23
    REQ_DEVINFO = 0x25
    LAN_EXT_STREAM = 0x40


NO_HEADER_CMDS = frozenset(
    {
        Cmd.DP_QUERY,
        Cmd.DP_QUERY_NEW,
        Cmd.UPDATEDPS,
        Cmd.HEART_BEAT,
        Cmd.SESS_KEY_NEG_START,
        Cmd.SESS_KEY_NEG_RESP,
        Cmd.SESS_KEY_NEG_FINISH,
        Cmd.LAN_EXT_STREAM,
    }
)
"""Commands sent with no 15-byte version header, on every version."""

HANDSHAKE_CMDS = frozenset(
    {Cmd.SESS_KEY_NEG_START, Cmd.SESS_KEY_NEG_RESP, Cmd.SESS_KEY_NEG_FINISH}
)
