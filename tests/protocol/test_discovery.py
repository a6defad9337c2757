"""UDP discovery, sans-IO: every public beacon vector decoded, ours re-encoded byte for byte, fuzz.

Vectors: tuya-protocol.md §5.1 (E7, E8), §5.2 (G20, G23, G24, G25) and vectors.md A1-A3.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.errors import IntegrityError, LocalProtocolError, ProtocolError
from powermonitor.protocol.commands import Cmd
from powermonitor.protocol.crypto import UDP_KEY, EcbCipher, GcmCipher, crc32
from powermonitor.protocol.discovery import (
    BEACON_FORMS,
    FORM_ECB,
    FORM_GCM,
    FORM_PLAIN,
    FORM_UNFRAMED,
    Beacon,
    beacon_port,
    decode_beacon,
    decode_discovery_request,
    decode_json,
    encode_beacon,
    encode_discovery_request,
    is_app_request,
)
from powermonitor.protocol.frames import build_55aa, build_6699

# --------------------------------------------------------------------------- vectors

A1 = "000055aa00000000000000130000009c00000000d09766676f3369eb10b5e9f132fd802afc4ca407f48b9841ade064bda7369da2b65e62eadc371db4212798ca042bffc3d9495fff174c2902e45e3b3aad248f5ec2fb8459b1155fc75d4bf6699f92cba4c0ba520148045e7605fa0498dfea5aabf1b1327308c3927111c62148942a2bc196cbf5621638ef100164bb81946ea85d6eda8eea40e93b1e3fc14a2570e182796633d2f10000aa55"
A2 = "000055aa0000000000000023000000bc00000000d09766676f3369eb10b5e9f132fd802a4c2be52c54287a15b0282be388a4540e5962dd10b3f166258fffbc11713e2d7d2daf5f6b72db943fb08244c3e4ee98f0c2fb8459b1155fc75d4bf6699f92cba4c0ba520148045e7605fa0498dfea5aab27a7afd2bd6d46ef72b6df69a156002d3c9dd03574ec0e0b0d8f860f374b41980616cd44036f7601ab71f0aa8391a55ce0913a793742322b90964948dad4b60cc0097b6cdcaa5a148223b3246686a12ebb96315b0000aa55"
A3 = "0000669900000000000000000013000000f0930720d5927ecff2918553dc9f8d593d645318ca3eaec2cfe76956f27bc421e7b80069114b116a0e35ed8ce76d4f9163ce4147537f40d6120ace92b49ae5eff48edfd3e1da0d74f1ee1b867ab2389a11eb789ce49b1974364c134a5a37e7a688b9a9ccf931dc8f1d253e13104d27ee479ef7e5d6de4b3157e0a9f58c5ca1d63c1e1e63fbc92043569da34340491c15b43d36a0ce0a2bef1cc196f15fc05932e2cdc46aa748cfe142e1ed5e98fe3bf1503a2125822ac9f6bd178ed9b5dfba198d039bfa009973d6740e443d26d8d1d78237ecacf2198afe941fd5e6e161c1fb2031a8f45d766418ed863c1113de14f2ba00009966"
E7 = "000055AA00000000000000130000009C00000000D09766676F3369EB10B5E9F132FD802A7A1E40D0CBEBCBBAAF6D9037D72ADB12C0E08B85428F69C0F5EB443B3428B648A46ECF78D163C8B2F111C8C375148D32C2D91FEA632B8557EB918162C1FC96744DC7FE823E307927FB0A44B0DFAE2C8DA2A472BD72B20E15E0F77B889F46B89A20780716567CE38AC1D583E9669FE8F0EEDD5C953BB9377560AE90DFBC45DBE2F9C05DDF0000AA55"
E8 = "000055aa00000000000000130000009c000000006f02543bfe9d2ab4a04bf16f8867c44c9969edaf006b881dc7e3e0702c06fb879717e14e4c8fab8bc25f0ab1242cba941a7bcb75ef5bb8eb330ad344dd0b106868c2c8903dec4bff0294046f69a2112cb14d42dae779bd097a67839861716672dad090fa96230f965190ab4e70ed4f7f61a87e102e9488471c99fadeba005d13bcc651832dd9b60158654b01a12a9a520237a3fb0000aa55"
G20 = "00006699000000000000000000250000003e3031323334353637383961627f0e835e0dc9a2e1b3e59a027287fb6b6f25ce36b3b18f073545b9be65ea1cdf1b473f7aa91e232336c3456e20ae37affc4c00009966"
G23 = "000055aa00000000000000130000009c00000000d09766676f3369eb10b5e9f132fd802ae3ae8f0a4f019fed0b1f6edaa746034413e508660343ff5031f62560d819228e2729b46f4be843651ec424293278d1ea2653c850b055fc112f05a1347e26f0fe7e6fd47351a96972bdc91a04690e1ee1f4ccaa66fda109570fd1c8b65bcde5a11f68bc91095b4dc4c7b092ea16a06bbe4b95ac1f0a68b021b552634baf99a3c57b0e87000000aa55"
G24 = "000055aa000000000000000000000096000000007b226970223a223139322e3136382e312e3531222c2267774964223a223031323334353637383931323334353637383930222c22616374697665223a322c226162696c697479223a302c22656e6372797074223a66616c73652c2270726f647563744b6579223a226b657964656164626565663132333435222c2276657273696f6e223a22332e31227d15e3db810000aa55"
G25 = "0000669900000000000100000013000000c6626139383736353433323130e470d4db2d8e1b4f480d5ab4e5aa660b5d15c2a5f56500230e9d9ce4454ae46973b67fe7dcc79383445f86d60d611c619ef556f826da10a0c17e77557196fc8634bf8707fbbac1c92fea556d3c3cc8ee24449322be3a470e691338c597a70eadc33aa81527be84564a79dadb9a7cf537c78caa27b6c49e6fa525214c3e460574f65b36bcdc9a047f678af6b6fefcac9a98c7560d9b750f0b61723035898149b71af1b954f0c97532cd67a88f8514a0f666e14598e297fc4455e100009966"

CLIENT_IV = b"0123456789ab"
DEVICE_IV = b"ba9876543210"

# The JSON each vector decodes to, in the order the plug wrote its keys.
A1_JSON = '{"ip":"192.168.1.39","gwId":"bf99cefbbe3b010080nunb","active":2,"ablilty":0,"encrypt":true,"productKey":"keya4gvchmtapm8n","version":"3.3"}'
A2_JSON = '{"ip":"192.168.1.36","gwId":"bf36eb3bd9f27a4264yxu1","active":2,"ablilty":0,"encrypt":true,"productKey":"key5ckdnys3pqgec","version":"3.4","token":true,"wf_cfg":true}'
A3_JSON = '{"ip":"192.168.1.104","gwId":"bfb7475dbdef49284eu4xe","uuid":"678a6c23563c5e29","active":2,"ablilty":0,"encrypt":true,"productKey":"key8u54q9dtru5jw","version":"3.5","token":true,"wf_cfg":true,"clientLink":1}'
E7_JSON = '{"ip":"192.168.188.120","gwId":"bf3f795ce962dadfd88hx5","active":2,"ablilty":0,"encrypt":true,"productKey":"keyjup78v54myhan","version":"3.3"}'
E8_JSON = '{"ip":"10.2.1.98","gwId":"bf90769136c9ac3653oqwj","active":2,"ablilty":0,"encrypt":true,"productKey":"3bhylhz5zhogklel","version":"3.3"}'
G23_JSON = '{"ip":"192.168.1.50","gwId":"01234567891234567890","active":2,"ability":0,"encrypt":true,"productKey":"keydeadbeef12345","version":"3.3"}'
G24_JSON = '{"ip":"192.168.1.51","gwId":"01234567891234567890","active":2,"ability":0,"encrypt":false,"productKey":"keydeadbeef12345","version":"3.1"}'
G25_JSON = '{"ip":"192.168.1.52","gwId":"eb0123456789abcdefghij","active":2,"ablilty":0,"encrypt":true,"productKey":"keydeadbeef12345","version":"3.5","token":true,"wf_cfg":true}'

BEACONS = {
    # name: (hex, json, form, version, encrypted)
    "A1": (A1, A1_JSON, FORM_ECB, "3.3", True),
    "A2": (A2, A2_JSON, FORM_ECB, "3.4", True),
    "A3": (A3, A3_JSON, FORM_GCM, "3.5", True),
    "E7": (E7, E7_JSON, FORM_ECB, "3.3", True),
    "E8": (E8, E8_JSON, FORM_ECB, "3.3", True),
    "G23": (G23, G23_JSON, FORM_ECB, "3.3", True),
    "G24": (G24, G24_JSON, FORM_PLAIN, "3.1", False),
    "G25": (G25, G25_JSON, FORM_GCM, "3.5", True),
}


def info(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    assert isinstance(obj, dict)
    return obj


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("name", sorted(BEACONS))
def test_every_udp_vector_decodes(name: str) -> None:
    hexstr, text, form, version, encrypted = BEACONS[name]
    raw = info(text)
    beacon = decode_beacon(bytes.fromhex(hexstr))
    assert beacon.raw == raw
    assert list(beacon.raw) == list(raw)  # key order kept
    assert beacon.device_id == raw["gwId"]
    assert beacon.ip == raw["ip"]
    assert beacon.version == version
    assert beacon.product_key == raw["productKey"]
    assert beacon.encrypted is encrypted
    assert beacon.active == 2
    assert beacon.ability == 0  # "ablilty" (real plugs' spelling) and "ability" alike
    assert beacon.form == form
    assert beacon.port is None
    assert not is_app_request(bytes.fromhex(hexstr))


def test_misspelt_ability_is_kept_in_raw() -> None:
    beacon = decode_beacon(bytes.fromhex(A1))
    assert "ablilty" in beacon.raw and "ability" not in beacon.raw
    assert beacon.ability == 0


def test_mac_derived_from_20_character_ids_only() -> None:
    # tinytuya: a 20-character id is a product prefix + the MAC in hex
    assert decode_beacon(bytes.fromhex(G23)).mac == "89:12:34:56:78:90"
    assert decode_beacon(bytes.fromhex(A1)).mac is None  # 22 characters
    odd = encode_beacon({"ip": "10.0.0.2", "gwId": "0123456789abcdefghij", "version": "3.1"}, "3.1")
    assert decode_beacon(odd).mac is None  # 20 characters, but the tail is not hex
    real = encode_beacon({"ip": "10.0.0.3", "gwId": "002004265CCF7FB1B659", "version": "3.1"}, "3.1")
    assert decode_beacon(real).mac == "5c:cf:7f:b1:b6:59"


def test_a2_is_a_34_broadcast_with_crc() -> None:
    frame = bytes.fromhex(A2)
    assert struct.unpack_from(">I", frame, 8)[0] == Cmd.BOARDCAST_LPV34
    assert decode_beacon(frame).version == "3.4"


def test_g20_discovery_request() -> None:
    frame = bytes.fromhex(G20)
    assert decode_discovery_request(frame) == {"from": "app", "ip": "192.168.1.10"}
    assert is_app_request(frame)
    with pytest.raises(ProtocolError, match="app"):
        decode_beacon(frame)


# --------------------------------------------------------------------------- encoding


def test_g20_reencodes_byte_for_byte() -> None:
    assert encode_discovery_request("192.168.1.10", CLIENT_IV) == bytes.fromhex(G20)


def test_g23_reencodes_byte_for_byte() -> None:
    assert encode_beacon(info(G23_JSON), "3.3") == bytes.fromhex(G23)


def test_g24_reencodes_byte_for_byte() -> None:
    frame = encode_beacon(info(G24_JSON), "3.1")
    assert frame == bytes.fromhex(G24)
    assert struct.unpack_from(">I", frame, 8)[0] == Cmd.UDP
    assert int(Cmd.UDP) == 0


def test_g25_reencodes_byte_for_byte() -> None:
    # §5.2: device IV "ba9876543210"; the frame's sequence number is 1
    assert encode_beacon(info(G25_JSON), "3.5", iv=DEVICE_IV, seqno=1) == bytes.fromhex(G25)


def test_a1_a2_e7_e8_reencode_byte_for_byte() -> None:
    # real plugs' ECB beacons are deterministic: our encoder writes exactly what they sent
    for name in ("A1", "E7", "E8"):
        hexstr, text, *_ = BEACONS[name]
        assert encode_beacon(info(text), "3.3") == bytes.fromhex(hexstr), name
    assert encode_beacon(info(A2_JSON), "3.4") == bytes.fromhex(A2)


def test_a3_reencodes_with_its_iv() -> None:
    frame = bytes.fromhex(A3)
    assert encode_beacon(info(A3_JSON), "3.5", iv=frame[18:30]) == frame


def test_beacon_table_and_ports() -> None:
    assert set(BEACON_FORMS) == {"3.1", "3.2", "3.3", "3.4", "3.5"}
    assert beacon_port("3.1") == 6666
    assert {beacon_port(v) for v in ("3.2", "3.3", "3.4", "3.5")} == {6667}
    with pytest.raises(LocalProtocolError):
        beacon_port("auto")


@pytest.mark.parametrize("version", ["3.1", "3.2", "3.3", "3.4", "3.5"])
def test_round_trip_every_version(version: str) -> None:
    payload = {"ip": "127.0.0.1", "gwId": "bf0000000000000000ab", "active": 2, "ablilty": 0,
               "encrypt": version != "3.1", "productKey": "keyabc", "version": version,
               "port": 40001}
    frame = encode_beacon(payload, version, iv=b"\x01" * 12)
    beacon = decode_beacon(frame)
    assert beacon.raw == payload
    assert beacon.version == version
    assert beacon.port == 40001
    assert beacon.form == {"3.1": FORM_PLAIN, "3.5": FORM_GCM}.get(version, FORM_ECB)


def test_encoder_refuses_bad_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        encode_beacon({"gwId": "x"}, "3.5")  # no IV
    with pytest.raises(LocalProtocolError):
        encode_beacon({"gwId": "x"}, "3.5", iv=b"short")
    with pytest.raises(LocalProtocolError):
        encode_beacon({"gwId": "x"}, "9.9")
    with pytest.raises(LocalProtocolError):
        encode_discovery_request("10.0.0.1", b"")


# --------------------------------------------------------------------------- other forms


def test_unframed_ecb_blob() -> None:
    blob = EcbCipher(UDP_KEY).encrypt(A1_JSON.encode())
    beacon = decode_beacon(blob)
    assert beacon.form == FORM_UNFRAMED
    assert beacon.raw == info(A1_JSON)


def test_6699_with_trailing_nuls_and_no_retcode() -> None:
    gcm = GcmCipher(UDP_KEY)
    with_nuls = build_6699(0, Cmd.UDP_NEW, b"\0\0\0\0" + A3_JSON.encode() + b"\0\0\0", gcm, DEVICE_IV)
    assert decode_beacon(with_nuls).raw == info(A3_JSON)
    no_retcode = build_6699(0, Cmd.UDP_NEW, A3_JSON.encode(), gcm, DEVICE_IV)
    assert decode_beacon(no_retcode).raw == info(A3_JSON)


def test_55aa_without_retcode() -> None:
    def crc(signed: bytes) -> bytes:
        return struct.pack(">I", crc32(signed))

    plain = build_55aa(0, 0, G24_JSON.encode(), crc, 4)
    assert decode_beacon(plain).raw == info(G24_JSON)
    ecb = build_55aa(0, 0x13, EcbCipher(UDP_KEY).encrypt(A1_JSON.encode()), crc, 4)
    assert decode_beacon(ecb).raw == info(A1_JSON)


def test_ciphertext_starting_with_a_brace_is_still_decrypted() -> None:
    frame = encode_beacon({}, "3.2")
    assert frame[20:21] == b"{"  # the first ciphertext byte happens to be "{"
    assert decode_json(frame) == {}


def test_version_missing_or_numeric() -> None:
    assert decode_beacon(encode_beacon({"gwId": "bf1", "version": 3.3}, "3.3")).version == "3.3"
    assert decode_beacon(encode_beacon({"gwId": "bf1"}, "3.1")).version == "3.1"
    assert decode_beacon(encode_beacon({"gwId": "bf1"}, "3.4")).version == "3.4"  # cmd 0x23
    assert decode_beacon(encode_beacon({"gwId": "bf1"}, "3.5", iv=DEVICE_IV)).version == "3.5"


def test_app_request_in_other_forms_is_recognised() -> None:
    plain = EcbCipher(UDP_KEY).encrypt(b'{"from":"app","ip":"10.0.0.9"}')
    assert is_app_request(plain)
    assert decode_json(plain)["ip"] == "10.0.0.9"
    with pytest.raises(ProtocolError):
        decode_discovery_request(plain)  # REQ_DEVINFO is a 6699 frame
    wrong_cmd = build_6699(0, Cmd.UDP_NEW, b'{"from":"app"}', GcmCipher(UDP_KEY), CLIENT_IV)
    with pytest.raises(ProtocolError, match="REQ_DEVINFO"):
        decode_discovery_request(wrong_cmd)
    not_app = build_6699(0, Cmd.REQ_DEVINFO, b'{"from":"x"}', GcmCipher(UDP_KEY), CLIENT_IV)
    with pytest.raises(ProtocolError):
        decode_discovery_request(not_app)


# --------------------------------------------------------------------------- errors


def test_bad_crc_is_an_integrity_error() -> None:
    frame = bytearray(bytes.fromhex(G23))
    frame[-6] ^= 1
    with pytest.raises(IntegrityError, match="CRC"):
        decode_beacon(bytes(frame))


def test_bad_gcm_tag_is_an_integrity_error() -> None:
    frame = bytearray(bytes.fromhex(G25))
    frame[40] ^= 1
    with pytest.raises(IntegrityError):
        decode_beacon(bytes(frame))


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"hello",
        bytes.fromhex(G23)[:40],  # truncated
        bytes.fromhex(G25)[:-5],  # truncated 6699
        bytes.fromhex(G24)[:-4] + b"\0\0\0\0",  # bad suffix
        EcbCipher(UDP_KEY).encrypt(b"[1,2,3]"),  # JSON, not an object
        EcbCipher(UDP_KEY).encrypt(b'{"ip":"1.2.3.4"}'),  # no gwId
        EcbCipher(UDP_KEY).encrypt(b"\xff\xfe not utf-8"),
        EcbCipher(UDP_KEY).encrypt(b"[" * 100_000),  # deep nesting
    ],
)
def test_garbage_raises_typed_errors(datagram: bytes) -> None:
    with pytest.raises((ProtocolError, IntegrityError)):
        decode_beacon(datagram)
    assert not is_app_request(datagram)


def _decodes_or_typed_error(datagram: bytes) -> None:
    try:
        beacon = decode_beacon(datagram)
    except (ProtocolError, IntegrityError):
        pass
    else:
        assert isinstance(beacon, Beacon) and beacon.device_id
    assert is_app_request(datagram) in (True, False)
    try:
        decode_discovery_request(datagram)
    except (ProtocolError, IntegrityError):
        pass


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(datagram: bytes) -> None:
    _decodes_or_typed_error(datagram)


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.sampled_from([A1, A2, A3, G20, G23, G24, G25]),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
    st.integers(0, 300),
    st.binary(max_size=20),
)
def test_fuzz_mutated_vectors(
    hexstr: str, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    frame = bytearray(bytes.fromhex(hexstr))
    for pos, value in flips:
        frame[pos % len(frame)] = value
    _decodes_or_typed_error(bytes(frame[: len(frame) - cut % 40]) + tail)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, database=None)
@given(
    st.sampled_from(["3.1", "3.2", "3.3", "3.4", "3.5"]),
    st.dictionaries(st.sampled_from(["ip", "gwId", "active", "ablilty", "ability", "encrypt",
                                     "productKey", "version", "port", "from", "x"]),
                    _json_values, max_size=8),
)
def test_fuzz_valid_frames_with_odd_json(version: str, payload: dict[str, Any]) -> None:
    frame = encode_beacon(payload, version, iv=DEVICE_IV)
    _decodes_or_typed_error(frame)
    assert decode_json(frame) == payload


# --------------------------------------------------------------------------- a peer's view


def test_tinytuya_reads_our_beacons() -> None:
    """tinytuya's ``decrypt_udp`` (what its scanner uses) reads every form we encode."""
    from tinytuya.core import udp_helper  # type: ignore[import-untyped]  # pinned test dependency

    for version in ("3.1", "3.2", "3.3", "3.4", "3.5"):
        payload = {"ip": "127.0.0.1", "gwId": "bf0000000000000000ab", "active": 2,
                   "ablilty": 0, "encrypt": True, "productKey": "k", "version": version}
        text = udp_helper.decrypt_udp(encode_beacon(payload, version, iv=DEVICE_IV))
        assert json.loads(text) == payload, version
    request = udp_helper.decrypt_udp(encode_discovery_request("127.0.0.1", CLIENT_IV))
    assert json.loads(request) == {"from": "app", "ip": "127.0.0.1"}
