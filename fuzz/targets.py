"""What the fuzzers feed, and the one invariant they check: parse, or raise a typed error.

Each target takes fuzzer bytes and drives one decoder the way hostile input reaches it:
``frames`` feeds raw bytes to a client or device ``Connection`` of every version (fresh, and
with a 3.4/3.5 session already negotiated); ``payloads`` wraps the bytes as the plaintext of a
valid frame (so the JSON, DP and cap checks behind the CRC/HMAC/GCM are reached, which random
bytes never pass); ``beacons`` decodes UDP discovery datagrams, raw and as valid frames around
the bytes. Anything but a :class:`~powermonitor.errors.ProtocolError` or
:class:`~powermonitor.errors.KeyOrVersionError` escaping is a crash.
"""

from __future__ import annotations

from collections.abc import Callable

from powermonitor.errors import KeyOrVersionError, ProtocolError
from powermonitor.protocol import discovery
from powermonitor.protocol.connection import Connection, Role

ALLOWED = (ProtocolError, KeyOrVersionError)
KEY = b"0123456789abcdef"
DEV = "bf0123456789abcdef01"
VERSIONS = ("3.1", "3.2", "3.3", "3.4", "3.5")
T = 1_700_000_000


def _counter() -> Callable[[int], bytes]:
    """Deterministic 'randomness' so that a crash reproduces from its input alone."""
    state = [0]

    def random_bytes(n: int) -> bytes:
        state[0] += 1
        return bytes((state[0] + i) & 0xFF for i in range(n))

    return random_bytes


def pair(version: str) -> tuple[Connection, Connection]:
    """A client and a device with their session negotiated (3.4/3.5) or ready."""
    client = Connection(Role.CLIENT, version, KEY, DEV, random_bytes=_counter())
    device = Connection(Role.DEVICE, version, KEY, DEV, random_bytes=_counter())
    first = client.start()
    if first:
        device.receive_data(first)
        client.receive_data(device.data_to_send())
        device.receive_data(client.data_to_send())
    return client, device


def frames(data: bytes) -> None:
    """Raw bytes into both roles of one version (chosen by the first byte)."""
    if not data:
        return
    version = VERSIONS[data[0] % len(VERSIONS)]
    body = data[1:]
    conns = [*pair(version), Connection(Role.DEVICE, version, KEY, DEV)]
    if version == "3.1":  # 3.1 plugs can be read without a key
        keyless = Connection(Role.CLIENT, "3.1", b"", DEV)
        keyless.start()
        conns.append(keyless)
    for conn in conns:
        try:
            conn.receive_data(body)
            conn.receive_data(body)  # the same again: a buffer left in a bad state shows here
        except ALLOWED:
            pass


def payloads(data: bytes) -> None:
    """The bytes as the plaintext of a valid reply, push or request, every frame kind."""
    if len(data) < 2:
        return
    version = VERSIONS[data[0] % len(VERSIONS)]
    cmd = (8, 10, 16, 13, 7, 9, 18, 64)[data[1] % 8]
    payload = data[2:]
    client, device = pair(version)
    frame = device._device_frame(cmd, payload, 1, retcode=data[1] >> 7)
    try:
        client.receive_data(frame)
    except ALLOWED:
        pass
    if version == "3.1":  # the same frame to a client without the key
        keyless = Connection(Role.CLIENT, "3.1", b"", DEV)
        keyless.start()
        try:
            keyless.receive_data(frame)
        except ALLOWED:
            pass
    client, device = pair(version)
    try:
        device.receive_data(client._frame(cmd, payload, client._next_seqno()))
    except ALLOWED:
        pass


def beacons(data: bytes) -> None:
    """A datagram as heard, and the bytes as the JSON of a beacon of every form."""
    for datagram in (data, *_framed(data)):
        try:
            discovery.decode_beacon(datagram)
        except ALLOWED:
            pass
        discovery.is_app_request(datagram)  # never raises
        try:
            discovery.decode_discovery_request(datagram)
        except ALLOWED:
            pass


def _framed(payload: bytes) -> list[bytes]:
    from powermonitor.protocol.crypto import UDP_KEY, EcbCipher, GcmCipher
    from powermonitor.protocol.frames import build_55aa, build_6699

    def crc(signed: bytes) -> bytes:
        from powermonitor.protocol.crypto import crc32

        return crc32(signed).to_bytes(4, "big")

    ecb = EcbCipher(UDP_KEY)
    return [
        build_55aa(0, 0x00, b"\0\0\0\0" + payload, crc, 4),
        build_55aa(0, 0x13, b"\0\0\0\0" + ecb.encrypt(payload), crc, 4),
        build_6699(0, 0x13, b"\0\0\0\0" + payload, GcmCipher(UDP_KEY), b"0123456789ab"),
        ecb.encrypt(payload),
    ]


TARGETS: dict[str, Callable[[bytes], None]] = {
    "frames": frames,
    "payloads": payloads,
    "beacons": beacons,
}
