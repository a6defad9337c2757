"""A client and a device ``Connection`` wired back to back in memory, per version; and fuzzing."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.errors import (
    HandshakeError,
    IntegrityError,
    LocalProtocolError,
    PowermonitorError,
    ProtocolError,
)
from powermonitor.protocol import events as ev
from powermonitor.protocol.connection import Connection, Role, State
from powermonitor.protocol.frames import MAX_FRAME_LENGTH, FrameBuffer

KEY = b"thisisarealkey00"
DEV = "eb0123456789abcdefghij"
ALL = ["3.1", "3.2", "3.3", "3.4", "3.5"]
T = 1700000000


def pair(version: str, *, device22: bool = False, key: bytes = KEY,
         device_key: bytes = KEY, device_version: str | None = None) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, version, key, DEV, device22=device22, dp_ids_device22=["1", "19"])
    device = Connection(Role.DEVICE, device_version or version, device_key, DEV)
    first = client.start()
    if first:
        assert device.receive_data(first) == []
        assert client.receive_data(device.data_to_send()) == [ev.SessionEstablished()]
        assert device.receive_data(client.data_to_send()) == [ev.SessionEstablished()]
        assert client.session_key == device.session_key
    assert client.state is State.READY and device.state is State.READY
    return client, device


@pytest.mark.parametrize("version", ALL)
def test_query_reply_control_push_heartbeat(version: str) -> None:
    client, device = pair(version)
    dps: dict[str, Any] = {"1": True, "18": 485, "19": 1210, "20": 2304}
    [req] = device.receive_data(client.query(T))
    assert isinstance(req, ev.QueryRequest)
    if version == "3.2":
        assert req.dp_ids == ("1",) or req.dp_ids is not None
    [reply] = client.receive_data(device.status_reply(req.seqno, req.cmd, dps, T))
    assert isinstance(reply, ev.StatusReply) and reply.dps == dps
    assert reply.seqno == client.seqno
    [ctl] = device.receive_data(client.control({"1": False}, T))
    assert isinstance(ctl, ev.ControlRequest) and ctl.dps == {"1": False}
    events = client.receive_data(device.ack(ctl.seqno, ctl.cmd) + device.push({"1": False}, T))
    assert events == [ev.Ack(ctl.seqno, ctl.cmd), ev.DpsPush(0, {"1": False}, events[1].data)]
    [hb] = device.receive_data(client.heartbeat())
    assert isinstance(hb, ev.HeartbeatRequest)
    assert client.receive_data(device.heartbeat_reply(hb.seqno)) == [ev.HeartbeatAck(hb.seqno)]
    [rf] = device.receive_data(client.refresh([18, 19, 20]))
    assert rf == ev.RefreshRequest(rf.seqno, ("18", "19", "20"))
    [err] = client.receive_data(device.error_reply(5, 10, "json obj data unvalid"))
    assert err == ev.DeviceErrorReply(5, 10, "json obj data unvalid", 1)


@pytest.mark.parametrize("version", ["3.3", "3.4"])
def test_device22_query_names_its_dps(version: str) -> None:
    client, device = pair(version, device22=True)
    [req] = device.receive_data(client.query(T))
    assert req == ev.QueryRequest(req.seqno, 13, ("1", "19"))


@pytest.mark.parametrize("version", ["3.1", "3.3"])
def test_query_payload_follows_the_second_and_device22(version: str) -> None:
    """The 3.1-3.3 query payload is kept per second (Connection._query_t): a new second and a
    switch to device22 queries still change it, and every frame is numbered on its own."""
    client, device = pair(version)

    def body(frame: bytes) -> bytes:
        return frame[16:-8]  # between the header and the CRC + suffix

    first, again, later = client.query(T), client.query(T), client.query(T + 1)
    assert first != again and body(first) == body(again) and body(later) != body(first)
    if version == "3.1":
        assert str(T + 1).encode() in later
    for frame in (first, again, later):
        [req] = device.receive_data(frame)
        assert req == ev.QueryRequest(req.seqno, 10, None)
    client.set_device22(["1", "19"])
    [req] = device.receive_data(client.query(T + 1))
    assert req == ev.QueryRequest(req.seqno, 13, ("1", "19"))


def test_35_queries_never_repeat_a_nonce() -> None:
    client, device = pair("3.5")
    frames = [client.query(T) for _ in range(3)]
    assert len({frame[18:30] for frame in frames}) == 3  # the IV of each 6699 frame
    for frame in frames:
        [req] = device.receive_data(frame)
        assert isinstance(req, ev.QueryRequest)


@pytest.mark.parametrize("version", ["3.2", "3.3", "3.4", "3.5"])
def test_wrong_key_is_detected(version: str) -> None:
    client = Connection(Role.CLIENT, version, b"wrongwrongwrong0", DEV)
    device = Connection(Role.DEVICE, version, KEY, DEV)
    first = client.start() or client.query(T)
    with pytest.raises((IntegrityError, HandshakeError)):
        device.receive_data(first)


@pytest.mark.parametrize("client_v,device_v", [("3.3", "3.4"), ("3.4", "3.3"), ("3.4", "3.5"),
                                               ("3.5", "3.4"), ("3.3", "3.5"), ("3.1", "3.4")])
def test_wrong_version_is_detected_by_device(client_v: str, device_v: str) -> None:
    client = Connection(Role.CLIENT, client_v, KEY, DEV)
    device = Connection(Role.DEVICE, device_v, KEY, DEV)
    first = client.start() or client.query(T)
    with pytest.raises(PowermonitorError):
        device.receive_data(first)


def test_client_wrong_key_on_34_reply() -> None:
    client = Connection(Role.CLIENT, "3.4", b"wrongwrongwrong0", DEV)
    device = Connection(Role.DEVICE, "3.4", b"wrongwrongwrong0", DEV)
    device.receive_data(client.start())
    other = Connection(Role.CLIENT, "3.4", KEY, DEV)
    other.start()
    with pytest.raises(IntegrityError):
        other.receive_data(device.data_to_send())


def test_request_before_session_is_a_local_error() -> None:
    client = Connection(Role.CLIENT, "3.4", KEY, DEV)
    client.start()
    with pytest.raises(LocalProtocolError):
        client.query(T)


def test_two_frames_in_one_read_and_split_frames() -> None:
    client, device = pair("3.4")
    frames = device.status_reply(1, 16, {"1": True}, T) + device.push({"19": 5}, T)
    events: list[Any] = []
    for i in range(0, len(frames), 7):
        events += client.receive_data(frames[i:i + 7])
    assert [type(e) for e in events] == [ev.StatusReply, ev.DpsPush]


def test_garbage_before_a_frame_is_skipped() -> None:
    client, device = pair("3.3")
    events = client.receive_data(b"\x01\x02garbage\x00\x00" + device.heartbeat_reply(3))
    assert events == [ev.HeartbeatAck(3)]


def test_impossible_length_is_a_protocol_error() -> None:
    buf = FrameBuffer()
    buf.feed(struct.pack(">4sIII", b"\x00\x00\x55\xaa", 1, 10, MAX_FRAME_LENGTH + 1))
    with pytest.raises(ProtocolError):
        buf.next_frame()


# ----------------------------------------------------------------- fuzzing

ROLES = [Role.CLIENT, Role.DEVICE]


def fresh(role: Role, version: str) -> Connection:
    conn = Connection(role, version, KEY, DEV)
    if role is Role.CLIENT:
        conn.start()
    return conn


def frame_like() -> st.SearchStrategy[bytes]:
    prefix = st.sampled_from([b"\x00\x00\x55\xaa", b"\x00\x00\x66\x99", b""])
    return st.builds(
        lambda p, seq, cmd, length, body, suffix: p + struct.pack(">III", seq, cmd, length) + body + suffix,
        prefix, st.integers(0, 2**32 - 1), st.sampled_from([0, 3, 4, 5, 7, 8, 9, 10, 13, 16, 18, 99]),
        st.integers(0, 300), st.binary(max_size=300),
        st.sampled_from([b"\x00\x00\xaa\x55", b"\x00\x00\x99\x66", b""]),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), frame_like()),
       version=st.sampled_from(ALL), role=st.sampled_from(ROLES))
def test_fuzz_any_bytes_give_events_need_data_or_typed_error(data: bytes, version: str, role: Role) -> None:
    conn = fresh(role, version)
    try:
        events = conn.receive_data(data)
    except (ProtocolError, IntegrityError, HandshakeError):
        return
    assert isinstance(events, list)


@settings(max_examples=200, deadline=None)
@given(version=st.sampled_from(ALL), flip=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_fuzz_bit_flips_in_valid_frames(version: str, flip: int, bit: int) -> None:
    client, device = pair(version)
    frame = bytearray(device.status_reply(1, client.spec.query_cmd, {"1": True, "19": 5}, T))
    frame[flip % len(frame)] ^= 1 << bit
    try:
        client.receive_data(bytes(frame))
    except (ProtocolError, IntegrityError, HandshakeError):
        pass
