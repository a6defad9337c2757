"""Hostile bytes from a plug or the LAN: every decoder parses or raises a typed project error.

Regression tests for what was found (deep JSON gave RecursionError, a keyless 3.1 client an
AssertionError, non-Tuya bytes were skipped forever), the caps of ``limits.py``, and
hypothesis invariants over frames of every version, payloads inside valid frames, and UDP
beacons. The long coverage-guided runs are in fuzz/ (see fuzz/README.md).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powermonitor.errors import (
    IntegrityError,
    KeyOrVersionError,
    LimitExceededError,
    LocalProtocolError,
    ProtocolError,
    UnknownVersionError,
)
from powermonitor.limits import (
    MAX_DP_VALUE_CHARS,
    MAX_DPS_PER_PLUG,
    MAX_JSON_DEPTH,
    MAX_JUNK_BYTES,
)
from powermonitor.protocol import discovery
from powermonitor.protocol import events as ev
from powermonitor.protocol.commands import Cmd
from powermonitor.protocol.connection import Connection, Role, _crc_trailer
from powermonitor.protocol.crypto import UDP_KEY, EcbCipher, GcmCipher
from powermonitor.protocol.frames import build_55aa, build_6699
from powermonitor.protocol.versions import normalize_version

KEY = b"0123456789abcdef"
DEV = "bf0123456789abcdef01"
ALL = ["3.1", "3.2", "3.3", "3.4", "3.5"]
T = 1_700_000_000
TYPED = (ProtocolError, KeyOrVersionError)


def pair(version: str) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, version, KEY, DEV)
    device = Connection(Role.DEVICE, version, KEY, DEV)
    first = client.start()
    if first:
        device.receive_data(first)
        client.receive_data(device.data_to_send())
        device.receive_data(client.data_to_send())
    return client, device


def reply_with(version: str, payload: bytes, cmd: int = Cmd.DP_QUERY) -> tuple[Connection, bytes]:
    """A client, and a valid frame from its plug carrying ``payload`` as plaintext."""
    client, device = pair(version)
    return client, device._device_frame(cmd, payload, 1)


# ----------------------------------------------------------------- regressions


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_is_a_limit_error_not_recursion(version: str, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    payload = b'{"dps":{"1":' + opener * 5000 + b"1" + closer * 5000 + b"}}"
    client, frame = reply_with(version, payload[:15000])
    with pytest.raises(ProtocolError):  # LimitExceededError, or the frame is too long
        client.receive_data(frame)
    client, frame = reply_with(version, b'{"dps":{"1":' + opener * 1500 + b"1" + closer * 1500 + b"}}")
    with pytest.raises(LimitExceededError, match="deeper than"):
        client.receive_data(frame)


@pytest.mark.parametrize("version", ALL)
def test_nesting_up_to_the_cap_is_accepted(version: str) -> None:
    depth = MAX_JSON_DEPTH - 3  # {"dps": {"1": ...}} uses 2, the innermost list 1
    value: Any = 1
    for _ in range(depth):
        value = [value]
    payload = json.dumps({"dps": {"1": value, "19": 5}, "pad": "x" * 300}).encode()
    client, frame = reply_with(version, payload)
    [reply] = client.receive_data(frame)
    assert isinstance(reply, ev.StatusReply) and reply.dps["19"] == 5


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    payload = json.dumps({"dps": {"1": "[" * 500 + "{" * 500, "2": '\\"[[[['}}).encode()
    client, frame = reply_with("3.3", payload)
    [reply] = client.receive_data(frame)
    assert isinstance(reply, ev.StatusReply) and reply.dps["1"].startswith("[[[")


def test_keyless_31_client_given_an_encrypted_payload_is_typed() -> None:
    client = Connection(Role.CLIENT, "3.1", b"", DEV)
    client.start()
    body = b"\0\0\0\0" + b"3.1" + b"0" * 16 + b"AAAAAAAAAAAAAAAAAAAAAA=="
    with pytest.raises(IntegrityError, match="local key"):
        client.receive_data(build_55aa(1, 10, body, _crc_trailer, 4))


def test_keyless_31_client_cannot_switch_and_says_why() -> None:
    client = Connection(Role.CLIENT, "3.1", b"", DEV)
    client.start()
    with pytest.raises(LocalProtocolError, match="local key"):
        client.control({"1": True}, T)


def test_a_key_that_is_not_text_is_typed() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.CLIENT, "3.3", "0123456789abcde€", DEV)


@pytest.mark.parametrize("version", ["auto", "3.9", "", None])
def test_unknown_version_is_typed_and_not_a_cli_error(version: str | None) -> None:
    if version in ("auto", "", None):
        with pytest.raises(UnknownVersionError, match="auto"):
            Connection(Role.CLIENT, version or "auto", KEY, DEV)
    else:
        with pytest.raises(UnknownVersionError) as info:
            normalize_version(version)
        assert info.value.exit_code == 2


@pytest.mark.parametrize("version", ["3.3", "3.4", "3.5"])
def test_too_many_dps_in_one_frame(version: str) -> None:
    dps = {str(i): i for i in range(MAX_DPS_PER_PLUG + 1)}
    client, frame = reply_with(version, json.dumps({"dps": dps}).encode(), Cmd.STATUS)
    with pytest.raises(LimitExceededError, match="data points"):
        client.receive_data(frame)


@pytest.mark.parametrize("value", ["x" * (MAX_DP_VALUE_CHARS + 1), ["y" * 40] * 60])
def test_a_dp_value_bigger_than_any_plug_sends(value: Any) -> None:
    client, frame = reply_with("3.4", json.dumps({"dps": {"1": value}}).encode(), Cmd.STATUS)
    with pytest.raises(LimitExceededError, match="characters"):
        client.receive_data(frame)


def test_non_tuya_bytes_are_a_protocol_error_once_past_the_cap() -> None:
    client, _ = pair("3.3")
    junk = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    fed = 0
    with pytest.raises(ProtocolError, match="not Tuya frames"):
        while fed <= MAX_JUNK_BYTES + len(junk):
            client.receive_data(junk)
            fed += len(junk)
    assert fed > MAX_JUNK_BYTES - len(junk)


def test_junk_is_counted_until_a_frame_and_then_forgotten() -> None:
    client, device = pair("3.3")
    client.receive_data(b"garbage!" * 10)
    assert client.junk_bytes >= 70
    events = client.receive_data(device.heartbeat_reply(3))
    assert events == [ev.HeartbeatAck(3)] and client.junk_bytes == 0


def test_refresh_request_with_a_number_for_its_list_is_typed() -> None:
    client, device = pair("3.3")
    [req] = device.receive_data(client.request(Cmd.UPDATEDPS, {"dpId": 5}))
    assert req == ev.RefreshRequest(client.seqno, ())


@pytest.mark.parametrize("version", ["3.3", "3.4", "3.5"])
def test_device_refusal_is_an_integrity_failure_for_a_wrong_key_client(version: str) -> None:
    client = Connection(Role.CLIENT, version, b"wrongwrongwrong0", DEV)
    device = Connection(Role.DEVICE, version, KEY, DEV)
    first = client.start() or client.query(T)
    with pytest.raises(KeyOrVersionError):
        device.receive_data(first)
    refusal = device.refusal(first)
    assert refusal
    with pytest.raises(IntegrityError):
        client.receive_data(refusal)


def test_oversized_datagram_is_refused() -> None:
    with pytest.raises(ProtocolError, match="larger than any beacon"):
        discovery.decode_beacon(b"\0" * 65000)


def test_deep_json_beacon_is_typed() -> None:
    payload = b'{"gwId":"x","a":' + b"[" * 3000 + b"]" * 3000 + b"}"
    datagram = build_55aa(0, 0, b"\0\0\0\0" + payload, _crc_trailer, 4)
    with pytest.raises(ProtocolError):
        discovery.decode_beacon(datagram)


# ----------------------------------------------------------------- layering


def test_importing_the_protocol_pulls_in_no_asyncio_client_or_sockets() -> None:
    code = (
        "import sys, powermonitor.protocol.connection, powermonitor.protocol.discovery, "
        "powermonitor.protocol.frames, powermonitor.protocol.events\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'socket', "
        "'selectors', 'click') or m.startswith(('powermonitor.client', 'powermonitor.transport', "
        "'powermonitor.cli')))\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=os.environ)
    assert result.stdout.strip() == ""


def test_the_protocol_never_names_the_cli_usage_error() -> None:
    import powermonitor.protocol as package

    folder = os.path.dirname(package.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                assert "UsageError" not in fh.read(), name


# ----------------------------------------------------------------- invariants (hypothesis)

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def frame_like() -> st.SearchStrategy[bytes]:
    prefix = st.sampled_from([b"\x00\x00\x55\xaa", b"\x00\x00\x66\x99", b"", b"\x00\x00"])
    return st.builds(
        lambda p, seq, cmd, length, body, suffix: p + struct.pack(">III", seq, cmd, length)
        + body + suffix,
        prefix, st.integers(0, 2**32 - 1), st.sampled_from([0, 3, 4, 5, 7, 8, 9, 10, 13, 16, 18]),
        st.integers(0, 0x5000), st.binary(max_size=600),
        st.sampled_from([b"\x00\x00\xaa\x55", b"\x00\x00\x99\x66", b""]),
    )


@FUZZ
@given(chunks=st.lists(st.one_of(st.binary(max_size=300), frame_like()), max_size=4),
       version=st.sampled_from(ALL), role=st.sampled_from([Role.CLIENT, Role.DEVICE]),
       established=st.booleans())
def test_any_bytes_parse_or_raise_typed(chunks: list[bytes], version: str, role: Role,
                                        established: bool) -> None:
    client, device = pair(version) if established else (
        Connection(Role.CLIENT, version, KEY, DEV), Connection(Role.DEVICE, version, KEY, DEV))
    if not established:
        client.start()
    conn = client if role is Role.CLIENT else device
    for chunk in chunks:
        try:
            events = conn.receive_data(chunk)
        except TYPED:
            return
        assert isinstance(events, list)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5),
                                                                       children, max_size=4),
    max_leaves=30,
)


@pytest.mark.slow
@FUZZ
@given(version=st.sampled_from(ALL),
       cmd=st.sampled_from([Cmd.STATUS, Cmd.DP_QUERY, Cmd.DP_QUERY_NEW, Cmd.CONTROL_NEW,
                            Cmd.HEART_BEAT, Cmd.UPDATEDPS, Cmd.LAN_EXT_STREAM]),
       payload=st.one_of(
           st.binary(max_size=400),
           st.builds(lambda v: json.dumps(v).encode(), json_values),
           st.builds(lambda d: json.dumps({"dps": d}).encode(),
                     st.dictionaries(st.text(max_size=4), json_values, max_size=8)),
           st.builds(lambda d: json.dumps({"protocol": 4, "data": {"dps": d}}).encode(),
                     st.dictionaries(st.text(max_size=4), json_values, max_size=8)),
       ),
       retcode=st.sampled_from([0, 1, 0xFFFFFFFF]))
def test_payload_inside_a_valid_frame_parses_or_raises_typed(version: str, cmd: int,
                                                            payload: bytes, retcode: int) -> None:
    client, device = pair(version)
    try:
        events = client.receive_data(device._device_frame(cmd, payload, 1, retcode=retcode))
    except TYPED:
        pass
    else:
        for event in events:
            dps = getattr(event, "dps", None)
            assert dps is None or isinstance(dps, dict)
    client, device = pair(version)
    try:
        device.receive_data(client._frame(cmd, payload, 1))
    except TYPED:
        pass


_ECB = EcbCipher(UDP_KEY)
_GCM = GcmCipher(UDP_KEY)


def _beacon_forms(payload: bytes) -> list[bytes]:
    return [
        payload,
        build_55aa(0, 0x00, b"\0\0\0\0" + payload, _crc_trailer, 4),
        build_55aa(0, 0x13, b"\0\0\0\0" + _ECB.encrypt(payload), _crc_trailer, 4),
        build_55aa(0, 0x23, _ECB.encrypt(payload), _crc_trailer, 4),
        build_6699(0, 0x13, b"\0\0\0\0" + payload, _GCM, b"0123456789ab"),
        build_6699(0, 0x25, payload, _GCM, b"0123456789ab"),
        _ECB.encrypt(payload),
    ]


@pytest.mark.slow
@FUZZ
@given(payload=st.one_of(
    st.binary(max_size=400),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(lambda d: json.dumps({"gwId": "bf01", **d}).encode(),
              st.dictionaries(st.sampled_from(["ip", "version", "productKey", "active", "ability",
                                               "ablilty", "encrypt", "port", "from", "gwId"]),
                              json_values, max_size=6)),
))
def test_beacons_parse_or_raise_typed(payload: bytes) -> None:
    for datagram in _beacon_forms(payload):
        try:
            beacon = discovery.decode_beacon(datagram)
        except TYPED:
            pass
        else:
            assert isinstance(beacon.device_id, str) and beacon.device_id
            assert isinstance(beacon.version, str)
        assert discovery.is_app_request(datagram) in (True, False)
        try:
            discovery.decode_discovery_request(datagram)
        except TYPED:
            pass


def test_requests_the_protocol_cannot_encode_are_local_errors() -> None:
    client, _ = pair("3.3")
    with pytest.raises(LocalProtocolError, match="whole numbers"):
        client.refresh(["power"])
    with pytest.raises(LocalProtocolError, match="cannot send"):
        client.control({"1": object()}, T)
