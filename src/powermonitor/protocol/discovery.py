"""UDP discovery, sans-IO: decode device beacons and app requests, encode both.

Plugs announce themselves by UDP broadcast every few seconds, in one of several forms: 3.1 a
plaintext 55AA frame (cmd 0) on 6666; 3.2-3.4 a 55AA frame (cmd 0x13, or 0x23 on 3.4) holding
AES-ECB JSON on 6667; 3.5 a 6699 AES-GCM frame with the return code inside the plaintext on
6667; some firmware a bare AES-ECB blob. 3.5 plugs also answer an app's REQ_DEVINFO request
(6699, cmd 0x25) sent to port 7000. Everything is keyed by the public ``UDP_KEY``, so any
listener can read beacons.

Design rules:

* No sockets, no clock, no randomness: the 6699 IV is passed in.
* A table keyed by protocol version names the form a plug of that version broadcasts
  (:data:`BEACON_FORMS`); decoding does not trust that table and accepts every form seen in the
  wild, whatever version the JSON claims.
* :func:`decode_beacon` returns a :class:`Beacon` or raises :class:`~powermonitor.errors.ProtocolError`
  (not a Tuya datagram, not JSON, not a beacon) or :class:`~powermonitor.errors.IntegrityError`
  (CRC, GCM tag or padding failed). Nothing else escapes it: a fuzz test pins that.
* 55AA beacons must carry a correct CRC32 (tuyapi checks it too; tinytuya only logs a mismatch).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import IntegrityError, LocalProtocolError, ProtocolError
from ..limits import MAX_DATAGRAM_BYTES
from .commands import Cmd
from .crypto import UDP_KEY, EcbCipher, GcmCipher, crc32
from .frames import (
    HEADER_55AA,
    HEADER_6699,
    PREFIX_55AA,
    PREFIX_6699,
    RETCODE_MASK,
    SUFFIX_55AA,
    SUFFIX_6699,
    U32,
    build_55aa,
    build_6699,
)
from .versions import FrameKind

FORM_PLAIN: Final = "3.1-plain"
"""55AA frame, cmd 0 (UDP), plaintext JSON: 3.1 plugs on port 6666."""
FORM_ECB: Final = "55aa-ecb"
"""55AA frame, cmd 0x13 (or 0x23 on 3.4), AES-ECB(udpkey) JSON: 3.2-3.4 plugs on port 6667."""
FORM_GCM: Final = "6699-gcm"
"""6699 frame, AES-GCM(udpkey), retcode inside the plaintext: 3.5 plugs on 6667 and 7000."""
FORM_UNFRAMED: Final = "ecb-unframed"
"""No frame at all, the whole datagram is AES-ECB(udpkey) JSON: some firmware."""

PORT_PLAIN: Final = 6666
PORT_ENCRYPTED: Final = 6667
PORT_APP: Final = 7000
"""Apps send REQ_DEVINFO here; 3.5 plugs answer to the app's IP on this port."""
DISCOVERY_PORTS: Final = (PORT_PLAIN, PORT_ENCRYPTED, PORT_APP)


@dataclass(frozen=True, slots=True)
class BeaconForm:
    """How a plug of one protocol version broadcasts."""

    frame: FrameKind
    cmd: Cmd
    encrypted: bool  # 55AA only: ECB(udpkey) payload (6699 is always GCM)
    port: int


BEACON_FORMS: Final[dict[str, BeaconForm]] = {
    # cmd 0 comes from the tuyapi / rust-tuyapi tables; vector G24 uses it.
    "3.1": BeaconForm(FrameKind.AA55, Cmd.UDP, False, PORT_PLAIN),
    "3.2": BeaconForm(FrameKind.AA55, Cmd.UDP_NEW, True, PORT_ENCRYPTED),
    "3.3": BeaconForm(FrameKind.AA55, Cmd.UDP_NEW, True, PORT_ENCRYPTED),
    # A real 3.4 capture (vector A2) uses BOARDCAST_LPV34 with a CRC, not an HMAC; tuyapi and
    # tinytuya both accept it.
    "3.4": BeaconForm(FrameKind.AA55, Cmd.BOARDCAST_LPV34, True, PORT_ENCRYPTED),
    "3.5": BeaconForm(FrameKind.GCM6699, Cmd.UDP_NEW, True, PORT_ENCRYPTED),
}
"""One row per protocol version: the beacon form :func:`encode_beacon` writes."""

_ECB: Final = EcbCipher(UDP_KEY)
_GCM: Final = GcmCipher(UDP_KEY)
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class Beacon:
    """One device announcement, as heard on the LAN.

    ``raw`` is the JSON exactly as the plug sent it (with its ``ablilty`` misspelling if any).
    ``mac`` is derived as tinytuya does, from the last 12 hex digits of a 20-character id
    (older ids are a product prefix plus the Wi-Fi MAC, e.g. Espressif's 5c:cf:7f); it is a
    best guess, not read from the network, and None for other ids.
    ``port`` is only set by powermonitor's simulator, whose plugs listen on ephemeral TCP ports;
    real beacons carry no port (the plug listens on 6668).
    """

    device_id: str
    ip: str
    version: str
    product_key: str = ""
    encrypted: bool = False
    active: int | None = None
    ability: int | None = None
    form: str = FORM_ECB
    mac: str | None = None
    port: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class _Decoded:
    obj: dict[str, Any]
    form: str
    cmd: int | None


def _parse_json(payload: bytes) -> dict[str, Any]:
    text = payload.rstrip(b"\x00").strip()
    try:
        obj = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProtocolError("discovery datagram does not hold JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("discovery datagram holds JSON that is not an object")
    return obj


def _open_55aa(datagram: bytes) -> _Decoded:
    if len(datagram) < HEADER_55AA.size + 8:
        raise ProtocolError(f"55AA datagram of {len(datagram)} bytes is truncated")
    _, _seqno, cmd, length = HEADER_55AA.unpack_from(datagram, 0)
    total = HEADER_55AA.size + length
    if length < 8 or total > len(datagram):
        raise ProtocolError(f"55AA length field {length} does not fit a {len(datagram)}-byte datagram")
    if datagram[total - 4 : total] != SUFFIX_55AA:
        raise ProtocolError("55AA datagram does not end with its suffix")
    end = total - 8
    if U32.unpack_from(datagram, end)[0] != crc32(datagram[:end]):
        raise IntegrityError("discovery datagram failed its CRC check (corrupted in transit)")
    body = datagram[HEADER_55AA.size : end]
    # Devices put a 4-byte return code first; recognise it by value, as tuyapi does.
    if len(body) >= 4 and U32.unpack_from(body, 0)[0] & RETCODE_MASK == 0:
        stripped = body[4:]
        if stripped[:1] == b"{" or len(stripped) % 16 == 0 or len(body) % 16:
            body = stripped
    if body[:1] == b"{":
        try:
            return _Decoded(_parse_json(body), FORM_PLAIN, cmd)
        except ProtocolError:
            if len(body) % 16:
                raise
            # ciphertext that happens to start with "{" (one beacon in 256)
    return _Decoded(_parse_json(_ECB.decrypt(body)), FORM_ECB, cmd)


def _open_6699(datagram: bytes) -> _Decoded:
    if len(datagram) < HEADER_6699.size + 12 + 16 + 4:
        raise ProtocolError(f"6699 datagram of {len(datagram)} bytes is truncated")
    _, _reserved, _seqno, cmd, length = HEADER_6699.unpack_from(datagram, 0)
    total = HEADER_6699.size + length + 4
    if length < 28 or total > len(datagram):
        raise ProtocolError(f"6699 length field {length} does not fit a {len(datagram)}-byte datagram")
    if datagram[total - 4 : total] != SUFFIX_6699:
        raise ProtocolError("6699 datagram does not end with its suffix")
    iv = datagram[HEADER_6699.size : HEADER_6699.size + 12]
    plain = _GCM.decrypt(iv, datagram[HEADER_6699.size + 12 : total - 4], datagram[4:18])
    # Devices put a return code in front of the JSON, apps do not (tinytuya's UDP heuristic).
    if plain[:1] != b"{" and len(plain) >= 4 and (
        plain[4:5] == b"{" or U32.unpack_from(plain, 0)[0] & RETCODE_MASK == 0
    ):
        plain = plain[4:]
    return _Decoded(_parse_json(plain), FORM_GCM, cmd)


def _open_unframed(datagram: bytes) -> _Decoded:
    if not datagram or len(datagram) % 16:
        raise ProtocolError(
            f"{len(datagram)}-byte datagram is neither a Tuya frame nor an AES-ECB blob"
        )
    return _Decoded(_parse_json(_ECB.decrypt(datagram)), FORM_UNFRAMED, None)


def _open(datagram: bytes) -> _Decoded:
    if len(datagram) > MAX_DATAGRAM_BYTES:
        raise ProtocolError(
            f"{len(datagram)}-byte datagram is larger than any beacon ({MAX_DATAGRAM_BYTES})"
        )
    head = datagram[:4]
    if head == PREFIX_55AA:
        return _open_55aa(datagram)
    if head == PREFIX_6699:
        return _open_6699(datagram)
    return _open_unframed(datagram)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mac_from_id(device_id: str) -> str | None:
    """tinytuya's rule: 20-character ids end with the plug's MAC in hex."""
    if len(device_id) != 20 or not set(device_id[-12:]) <= _HEX:
        return None
    tail = device_id[-12:].lower()
    return ":".join(tail[i : i + 2] for i in range(0, 12, 2))


_FORM_VERSION: Final = {FORM_PLAIN: "3.1", FORM_GCM: "3.5"}


def _beacon(decoded: _Decoded) -> Beacon:
    obj = decoded.obj
    if obj.get("from") == "app":
        raise ProtocolError("an app's discovery request, not a device beacon")
    device_id = obj.get("gwId")
    if not isinstance(device_id, str) or not device_id:
        raise ProtocolError("discovery JSON has no gwId: not a device beacon")
    version = obj.get("version")
    if isinstance(version, float | int) and not isinstance(version, bool):
        version = str(version)  # tolerate 3.3 written as a number
    if not isinstance(version, str) or not version:
        if decoded.cmd == Cmd.BOARDCAST_LPV34:
            version = "3.4"
        else:
            version = _FORM_VERSION.get(decoded.form, "3.3")
    ip = obj.get("ip")
    product_key = obj.get("productKey")
    ability = obj["ability"] if "ability" in obj else obj.get("ablilty")
    port = _opt_int(obj.get("port"))
    return Beacon(
        device_id=device_id,
        ip=ip if isinstance(ip, str) else "",
        version=version,
        product_key=product_key if isinstance(product_key, str) else "",
        encrypted=obj.get("encrypt") is True,
        active=_opt_int(obj.get("active")),
        ability=_opt_int(ability),
        form=decoded.form,
        mac=_mac_from_id(device_id),
        port=port if port is not None and 0 < port < 65536 else None,
        raw=obj,
    )


def decode_beacon(datagram: bytes) -> Beacon:
    """Decode one discovery datagram from a plug, in any of the forms plugs use.

    Raises ProtocolError (not a beacon) or IntegrityError (CRC / tag / padding failed).
    ``ip`` is "" when the JSON carries none; the caller may use the datagram's source address.
    """
    return _beacon(_open(bytes(datagram)))


def decode_json(datagram: bytes) -> dict[str, Any]:
    """The JSON object inside any discovery datagram (beacon or app request)."""
    return _open(bytes(datagram)).obj


def is_app_request(datagram: bytes) -> bool:
    """True for an app's discovery request (``"from":"app"``), in any form; never raises."""
    try:
        return decode_json(datagram).get("from") == "app"
    except (ProtocolError, IntegrityError):
        return False


def decode_discovery_request(datagram: bytes) -> dict[str, Any]:
    """Decode a 3.5 REQ_DEVINFO request (6699, cmd 0x25, GCM(udpkey)); return its JSON.

    The JSON is ``{"from":"app","ip":"<client IP>"}``; plugs answer to that IP on port 7000.
    """
    if bytes(datagram[:4]) != PREFIX_6699:
        raise ProtocolError("a discovery request is a 6699 frame")
    decoded = _open_6699(bytes(datagram))
    if decoded.cmd != Cmd.REQ_DEVINFO:
        raise ProtocolError(f"command {decoded.cmd:#x} is not REQ_DEVINFO")
    if decoded.obj.get("from") != "app":
        raise ProtocolError('REQ_DEVINFO without "from":"app"')
    return decoded.obj


# --------------------------------------------------------------------------- encoding


def _check_iv(iv: bytes | None) -> bytes:
    if iv is None or len(iv) != 12:
        raise LocalProtocolError("a 6699 discovery frame needs a 12-byte IV")
    return bytes(iv)


def encode_discovery_request(client_ip: str, iv: bytes, *, seqno: int = 0) -> bytes:
    """The REQ_DEVINFO request an app sends to port 7000 (vector G20 with iv ``0123456789ab``)."""
    payload = _dumps({"from": "app", "ip": client_ip}).encode()
    return build_6699(seqno, Cmd.REQ_DEVINFO, payload, _GCM, _check_iv(iv))


def _crc_trailer(signed: bytes) -> bytes:
    return U32.pack(crc32(signed))


def encode_beacon(
    info: dict[str, Any], version: str, *, iv: bytes | None = None, seqno: int = 0
) -> bytes:
    """The broadcast a plug of ``version`` sends, carrying ``info`` as compact JSON.

    ``info`` is serialised as given (key order kept): pass ``ip``, ``gwId``, ``active``,
    ``ablilty``/``ability``, ``encrypt``, ``productKey``, ``version``... 3.5 needs a 12-byte
    ``iv`` (random on real plugs). Reproduces vectors G23 (3.3), G24 (3.1) and G25 (3.5).
    """
    form = BEACON_FORMS.get(version)
    if form is None:
        raise LocalProtocolError(f"no beacon form for protocol version {version!r}")
    payload = _dumps(info).encode()
    retcode = U32.pack(0)
    if form.frame is FrameKind.GCM6699:
        return build_6699(seqno, form.cmd, retcode + payload, _GCM, _check_iv(iv))
    body = retcode + (_ECB.encrypt(payload) if form.encrypted else payload)
    return build_55aa(seqno, form.cmd, body, _crc_trailer, 4)


def beacon_port(version: str) -> int:
    """The UDP port a plug of ``version`` broadcasts to (6666 for 3.1, 6667 otherwise)."""
    form = BEACON_FORMS.get(version)
    if form is None:
        raise LocalProtocolError(f"no beacon form for protocol version {version!r}")
    return form.port


__all__ = [
    "BEACON_FORMS",
    "DISCOVERY_PORTS",
    "FORM_ECB",
    "FORM_GCM",
    "FORM_PLAIN",
    "FORM_UNFRAMED",
    "PORT_APP",
    "PORT_ENCRYPTED",
    "PORT_PLAIN",
    "Beacon",
    "BeaconForm",
    "beacon_port",
    "decode_beacon",
    "decode_discovery_request",
    "decode_json",
    "encode_beacon",
    "encode_discovery_request",
    "is_app_request",
]
