"""Every vector of shared/docs/vectors.md decoded and, where ours, re-encoded byte for byte.

Each received vector is fed whole, one byte at a time, and followed by trailing bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from powermonitor.errors import DeviceReportedError, IntegrityError
from powermonitor.protocol import events as ev
from powermonitor.protocol.connection import Connection, Role, State
from powermonitor.protocol.crypto import UDP_KEY, EcbCipher, v31_decode, v31_encode, v31_signature

from .vectors import (
    A4_CONTROL,
    A4_HEARTBEAT,
    A4_KEY,
    B2_BAD_CRC_PAIR,
    B2_CONTROL_UDPKEY,
    E1_JSON,
    E1_KEY,
    E1_PAYLOAD,
    E3_HEARTBEAT,
    E4_CONTROL_UDPKEY,
    E5_ERROR_UDPKEY,
    E6_PLAIN_ERROR,
    G,
    load_generated,
)

D = load_generated()
D_VERSIONS = sorted(D["versions"])


def fixed(values: dict[int, bytes]) -> Callable[[int], bytes]:
    """A deterministic random source: each size maps to one fixed value."""

    def rb(n: int) -> bytes:
        return values[n]

    return rb


def feeds(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    yield "split3", [data[: len(data) // 3], data[len(data) // 3 :]]


def feed(conn: Connection, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out.extend(conn.receive_data(chunk))
    return out


def d_client(version: str) -> Connection:
    rb = fixed({16: D["client_nonce"].encode(), 12: D["gcm_iv_client"].encode()})
    return Connection(Role.CLIENT, version, D["key"], D["dev_id"], random_bytes=rb)


def d_device(version: str) -> Connection:
    rb = fixed({8: bytes.fromhex(D["device_nonce"]), 12: b"abcdefghijkl"})
    return Connection(Role.DEVICE, version, D["key"], D["dev_id"], random_bytes=rb)


def establish_d(version: str, chunks: str = "whole") -> Connection:
    conn = d_client(version)
    vec = D["versions"][version]
    start = conn.start()
    if "c2d_sess_key_neg_start" in vec:
        assert start.hex() == vec["c2d_sess_key_neg_start"]
        resp = bytes.fromhex(vec["d2c_sess_key_neg_resp"])
        events = feed(conn, dict(feeds(resp))[chunks])
        assert events == [ev.SessionEstablished()]
        assert conn.data_to_send().hex() == vec["c2d_sess_key_neg_finish"]
        assert conn.session_key is not None and conn.session_key.hex() == vec["session_key_hex"]
    else:
        assert start == b""
    assert conn.state is State.READY
    return conn


@pytest.mark.parametrize("version", D_VERSIONS)
def test_generated_client_frames_byte_exact(version: str) -> None:
    vec = D["versions"][version]
    conn = establish_d(version)
    assert conn.query(D["t"]).hex() == vec["c2d_status"]
    assert conn.control({"1": False}, D["t"]).hex() == vec["c2d_control"]


@pytest.mark.parametrize("version", D_VERSIONS)
@pytest.mark.parametrize("how", ["whole", "bytewise", "split3"])
def test_generated_device_status_decodes(version: str, how: str) -> None:
    vec = D["versions"][version]
    conn = establish_d(version, how)
    conn.query(D["t"])
    data = bytes.fromhex(vec["d2c_status"])
    events = feed(conn, dict(feeds(data))[how])
    assert len(events) == 1 and isinstance(events[0], ev.StatusReply)
    assert events[0].dps == {"1": True, "20": "white"}


@pytest.mark.parametrize("version", D_VERSIONS)
def test_generated_trailing_bytes_are_kept(version: str) -> None:
    vec = D["versions"][version]
    conn = establish_d(version)
    data = bytes.fromhex(vec["d2c_status"])
    events = conn.receive_data(data + data[:10])
    assert len(events) == 1
    assert conn.receive_data(data[10:]) and True  # the rest completes the second frame


@pytest.mark.parametrize("version", D_VERSIONS)
def test_generated_device_role_reencodes(version: str) -> None:
    """Our device role produces the device frames of the vectors byte for byte."""
    vec = D["versions"][version]
    device = d_device(version)
    if "c2d_sess_key_neg_start" in vec:
        assert device.receive_data(bytes.fromhex(vec["c2d_sess_key_neg_start"])) == []
        assert device.data_to_send().hex() == vec["d2c_sess_key_neg_resp"]
        events = device.receive_data(bytes.fromhex(vec["c2d_sess_key_neg_finish"]))
        assert events == [ev.SessionEstablished()]
    events = device.receive_data(bytes.fromhex(vec["c2d_status"]))
    assert len(events) == 1 and isinstance(events[0], ev.QueryRequest)
    reply = device.status_reply(2, events[0].cmd, {"1": True, "20": "white"}, D["t"])
    assert reply.hex() == vec["d2c_status"]
    events = device.receive_data(bytes.fromhex(vec["c2d_control"]))
    assert events == [ev.ControlRequest(events[0].seqno, vec["c2d_control_cmd"], {"1": False})]


# ----------------------------------------------------------------- G-set (tuya-protocol.md §5.2)


def g_client(version: str) -> Connection:
    rb = fixed({16: G["client_nonce"], 12: G["client_iv"]})
    return Connection(Role.CLIENT, version, G["key"], G["id"], random_bytes=rb)


def g_session(version: str) -> Connection:
    conn = g_client(version)
    start = conn.start()
    start_vec, resp_vec, finish_vec = (
        ("G7", "G8", "G9") if version == "3.4" else ("G14", "G15", "G16")
    )
    assert start.hex() == G[start_vec]
    assert conn.receive_data(bytes.fromhex(G[resp_vec])) == [ev.SessionEstablished()]
    assert conn.data_to_send().hex() == G[finish_vec]
    assert conn.session_key is not None
    assert conn.session_key.hex() == G["session_34" if version == "3.4" else "session_35"]
    return conn


CTL5 = {"1": True}


def test_g_v31_frames() -> None:
    conn = g_client("3.1")
    conn.start()
    assert conn.query(1700000000).hex() == G["G1"]
    assert conn.control(CTL5, 1700000000).hex() == G["G2"]


def test_g_v33_frames() -> None:
    conn = g_client("3.3")
    conn.start()
    conn.seqno = 2
    assert conn.control(CTL5, 1700000000).hex() == G["G3"]
    assert conn.query(1700000000).hex() == G["G4"]
    assert conn.refresh([4, 5, 6, 18, 19, 20]).hex() == G["G5"]
    assert conn.heartbeat().hex() == G["G6"]


@pytest.mark.parametrize("how", ["whole", "bytewise", "split3"])
def test_g_v33_device_frames(how: str) -> None:
    conn = g_client("3.3")
    conn.start()
    reply = feed(conn, dict(feeds(bytes.fromhex(G["G12"])))[how])
    dps = {"1": True, "17": 5, "18": 210, "19": 485, "20": 2304}
    assert reply == [ev.StatusReply(4, 10, dps, {"devId": G["id"], "dps": dps})]
    push = feed(conn, dict(feeds(bytes.fromhex(G["G13"])))[how])
    assert isinstance(push[0], ev.DpsPush) and push[0].dps == {"19": 485}
    # re-encode the reply with our device role
    device = Connection(Role.DEVICE, "3.3", G["key"], G["id"])
    assert device.status_reply(4, 10, dps, 0).hex() == G["G12"]


def test_g_v34_frames() -> None:
    conn = g_session("3.4")
    conn.seqno = 2
    assert conn.control(CTL5, 1700000000).hex() == G["G10"]
    assert conn.query(1700000000).hex() == G["G11"]
    events = conn.receive_data(bytes.fromhex(G["G21"]) + bytes.fromhex(G["G22"]))
    assert [type(e) for e in events] == [ev.StatusReply, ev.DpsPush]
    assert events[0].dps["19"] == 485 and events[1].dps == {"19": 485}


def test_g_v35_frames() -> None:
    conn = g_session("3.5")
    conn.seqno = 2
    assert conn.control(CTL5, 1700000000).hex() == G["G17"]
    assert conn.query(1700000000).hex() == G["G18"]
    events = conn.receive_data(bytes.fromhex(G["G19"]))
    assert isinstance(events[0], ev.StatusReply) and events[0].dps["20"] == 2304


def test_g_device_role_handshake_v35() -> None:
    """Device role with the G-set device nonce reproduces G15 (seq 100 from a global counter)."""
    rb = fixed({8: bytes.fromhex(G["device_nonce"].decode()), 12: G["device_iv"]})
    device = Connection(Role.DEVICE, "3.5", G["key"], G["id"], random_bytes=rb, seqno_mode="global")
    device.seqno = 99
    assert device.receive_data(bytes.fromhex(G["G14"])) == []
    assert device.data_to_send().hex() == G["G15"]
    assert device.receive_data(bytes.fromhex(G["G16"])) == [ev.SessionEstablished()]


def test_v31_payload_signature_and_cipher() -> None:
    cipher = EcbCipher(G["key"])
    body = v31_encode(G["CTL31"].encode(), cipher, G["key"])
    assert body[3:19] == b"0804fe238277beda"
    assert v31_decode(body, cipher).decode() == G["CTL31"]
    # tuyapi's cipher test vector (E1)
    e1 = EcbCipher(E1_KEY)
    assert v31_decode(E1_PAYLOAD, e1).decode() == E1_JSON
    assert v31_signature(E1_PAYLOAD[19:], E1_KEY) == b"33ed3d4a21effe90"
    assert base64.b64encode(e1.encrypt(E1_JSON.encode())) == E1_PAYLOAD[19:]


# ----------------------------------------------------------------- external vectors (E/B/A)


def test_e3_heartbeat_reply() -> None:
    conn = Connection(Role.CLIENT, "3.1", b"", "x")
    conn.start()
    for _, chunks in feeds(bytes.fromhex(E3_HEARTBEAT)):
        assert feed(conn, chunks) == [ev.HeartbeatAck(0)]


@pytest.mark.parametrize("frame", [E4_CONTROL_UDPKEY, B2_CONTROL_UDPKEY])
def test_e4_b2_control_reply_with_nonzero_header(frame: str) -> None:
    conn = Connection(Role.CLIENT, "3.3", UDP_KEY, "46052834d8f15b92e53b")
    conn.start()
    events = conn.receive_data(bytes.fromhex(frame))
    assert isinstance(events[0], ev.StatusReply) and events[0].dps == {"1": True}


def test_e5_error_reply() -> None:
    conn = Connection(Role.CLIENT, "3.3", UDP_KEY, "x")
    conn.start()
    assert conn.receive_data(bytes.fromhex(E5_ERROR_UDPKEY)) == [
        ev.DeviceErrorReply(0, 7, "data format error", 1)
    ]


def test_e6_plaintext_error_from_encrypted_version() -> None:
    conn = Connection(Role.CLIENT, "3.3", b"0123456789abcdef", "x")
    conn.start()
    events = conn.receive_data(bytes.fromhex(E6_PLAIN_ERROR))
    assert events == [ev.DeviceErrorReply(0, 10, "json obj data unvalid", 1)]


def test_b2_bad_crc_in_coalesced_read() -> None:
    conn = Connection(Role.CLIENT, "3.1", b"", "x")
    conn.start()
    with pytest.raises(IntegrityError):
        conn.receive_data(bytes.fromhex(B2_BAD_CRC_PAIR))


def test_a4_real_app_control_and_heartbeat_to_device_role() -> None:
    device = Connection(Role.DEVICE, "3.3", A4_KEY, "836742153c71bf3f7e1f")
    events = device.receive_data(bytes.fromhex(A4_CONTROL) + bytes.fromhex(A4_HEARTBEAT))
    assert events == [ev.ControlRequest(9, 7, {"2": True}), ev.HeartbeatRequest(0)]


def test_wrong_key_is_an_integrity_error_on_33() -> None:
    conn = Connection(Role.CLIENT, "3.3", b"fedcba9876543210", G["id"])
    conn.start()
    with pytest.raises(IntegrityError):
        conn.receive_data(bytes.fromhex(G["G12"]))


def test_device_error_reply_type_is_not_raised_by_core() -> None:
    # the core returns events; raising is the client's job
    assert DeviceReportedError.exit_code != IntegrityError.exit_code
