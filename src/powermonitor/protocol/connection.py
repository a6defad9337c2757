"""The sans-IO Tuya LAN protocol: one ``Connection`` for both the client and the device role.

Feed it received bytes with :meth:`Connection.receive_data` and act on the events it returns;
ask it for requests (client) or replies (device) and write the bytes it gives you; after every
``receive_data`` also send :meth:`Connection.data_to_send` (the handshake answers itself).
It never touches a socket, the clock or a global random source: the caller passes ``t`` (Unix
seconds) and a ``random_bytes`` callable. That is how the simulator reuses it as the device,
and how both sides are tested in memory, byte by byte.

Errors raised from ``receive_data`` are typed, and nothing else escapes it (a fuzz test and
the harnesses in fuzz/ pin that): :class:`~powermonitor.errors.ProtocolError` for bytes that
are not a frame or break a cap of ``limits.py`` (nesting, DP count, value size),
:class:`~powermonitor.errors.IntegrityError` for a frame that fails its CRC/HMAC/GCM check or
does not decrypt (wrong key or version), and :class:`~powermonitor.errors.HandshakeError` when
3.4/3.5 key negotiation fails. After one of them the connection should be closed: a session
can not be trusted any more. The caps cost nothing on the usual small payload: they are
checked only for payloads long enough to break them.

Longer than ~500 lines because it is one state machine: framing, sealing, the 3.4/3.5
handshake and both roles read and change the same session state (sequence numbers, session
key, ciphers). Payload JSON parsing and its caps are in payload.py.
"""

from __future__ import annotations

import hmac as _hmac
import os
import struct
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from ..errors import (
    HandshakeError,
    IntegrityError,
    LocalProtocolError,
    ProtocolError,
)
from . import events as ev
from .commands import HANDSHAKE_CMDS, NO_HEADER_CMDS, Cmd
from .crypto import (
    WRONG_KEY,
    EcbCipher,
    GcmCipher,
    HmacSha256,
    crc32,
    hmac_sha256,
    local_ecb,
    session_key_v34,
    session_key_v35,
    v31_decode,
    v31_encode,
)
from .frames import (
    PREFIX_6699,
    U32,
    FrameBuffer,
    build_55aa,
    build_6699,
    open_6699,
    peek_header,
    retcode_split,
    split_55aa,
)
from .payload import DPS_CHECK_BYTES, check_dps, dumps, is_text, parse_json
from .versions import FrameKind, Integrity, PayloadCipher, VersionSpec, spec_for

_CRC = struct.Struct(">I")
_EMPTY_JSON = b"{}"
"""The 3.4/3.5 query payload, and the most common request payload a device receives."""
_SEALED_CACHE_MAX = 16
"""Request bodies a client keeps encrypted (query, refresh, heartbeat repeat verbatim)."""


class Role(Enum):
    CLIENT = "client"
    DEVICE = "device"


class State(Enum):
    IDLE = "idle"  # created; client must call start()
    NEGOTIATING = "negotiating"  # 3.4/3.5 handshake in progress
    READY = "ready"


# Enum members the per-frame code tests, as module constants (reading a member off its Enum
# class costs ~0.1 µs on Python 3.11, and a frame took a dozen such reads).
_READY = State.READY
_GCM6699 = FrameKind.GCM6699
_HMAC_SHA256 = Integrity.HMAC_SHA256
_PLAIN_V31 = PayloadCipher.PLAIN_V31
_ECB_CLEAR_HEADER = PayloadCipher.ECB_CLEAR_HEADER
_HEART_BEAT = Cmd.HEART_BEAT
_STATUS = Cmd.STATUS
_UPDATEDPS = Cmd.UPDATEDPS
_QUERY_CMDS = frozenset({Cmd.DP_QUERY, Cmd.DP_QUERY_NEW, Cmd.STATUS})
_CONTROL_CMDS = frozenset({Cmd.CONTROL, Cmd.CONTROL_NEW})


def _encode(payload: dict[str, Any]) -> bytes:
    """A request payload as JSON bytes."""
    try:
        return dumps(payload).encode("utf-8")
    except (TypeError, ValueError) as exc:  # a value JSON cannot carry (an object, NaN...)
        raise LocalProtocolError(f"cannot send {payload!r:.80}: {exc}") from None


def _crc_trailer(signed: bytes) -> bytes:
    return _CRC.pack(crc32(signed))


class Connection:
    """One TCP session with one plug, from either side.

    ``seqno_mode`` matters only to the device role: ``"echo"`` answers with the request's
    sequence number (what 3.1–3.4 plugs do, and what tuyapi needs on 3.5 too); ``"global"``
    numbers replies from the device's own counter like real 3.5 plugs.
    """

    __slots__ = (  # one per plug in a fleet: no __dict__
        "_buffer", "_client_nonce", "_ecb", "_gcm", "_header", "_header_prefix", "_hmac",
        "_is_client", "_key", "_local_ecb", "_local_gcm", "_local_hmac", "_nonce", "_outbox",
        "_query_payload", "_query_t", "_random", "_refresh_ids", "_refresh_payload", "_sealed",
        "_trailer_len", "device_id",
        "dp_ids_device22", "role", "seqno", "seqno_mode", "session_key", "spec", "state",
    )

    def __init__(
        self,
        role: Role,
        version: str,
        local_key: bytes | str,
        device_id: str,
        *,
        device22: bool = False,
        random_bytes: Callable[[int], bytes] = os.urandom,
        seqno_mode: str = "echo",
        dp_ids_device22: Iterable[str] = ("1",),
    ) -> None:
        self.role = role
        self.spec: VersionSpec = spec_for(version, device22)
        try:
            key = local_key.encode("latin-1") if isinstance(local_key, str) else bytes(local_key)
        except UnicodeEncodeError:
            raise LocalProtocolError("a local key is plain text (letters, digits, symbols)") from None
        if self.spec.name != "3.1" and len(key) != 16:
            raise LocalProtocolError(f"protocol {self.spec.name} needs a 16-byte local key")
        self.device_id = device_id
        self.state = State.IDLE if role is Role.CLIENT else (
            State.NEGOTIATING if self.spec.handshake else State.READY
        )
        self.seqno = 0  # last seqno we sent
        self.seqno_mode = seqno_mode
        self.dp_ids_device22 = tuple(dp_ids_device22)
        self._random = random_bytes
        self._key = key
        self._buffer = FrameBuffer()
        self._outbox = bytearray()
        self._nonce = b""  # our handshake nonce
        # Ciphers keyed with the local key. 3.1-3.3 use them for every frame; 3.4/3.5 only
        # during the handshake, after which they are dropped (rebuilt if ever needed again)
        # and the session-key ciphers below take over.
        self._local_ecb: EcbCipher | None = None
        self._local_gcm: GcmCipher | None = None
        if len(key) == 16 and not self.spec.handshake:
            self._local_ecb = local_ecb(key)
        self._local_hmac: HmacSha256 | None = None  # built when a frame needs it (3.4 only)
        self._ecb: EcbCipher | None = None
        self._gcm: GcmCipher | None = None
        self._hmac: HmacSha256 | None = None  # the session's; the local key's until then
        self._sealed: dict[bytes, bytes] = {}  # client: plaintext -> ECB body (current key)
        self._refresh_ids: list[int] | None = None  # the last refresh() and its payload
        self._refresh_payload = b""
        self._query_t = -1  # the second of _query_payload (3.1-3.3, device22)
        self._query_payload = b""
        self.session_key: bytes | None = None
        self._is_client = role is Role.CLIENT
        self._trailer_len = 32 if self.spec.integrity is Integrity.HMAC_SHA256 else 4
        self._header = self.spec.header
        self._header_prefix = self._header[:3]

    # ------------------------------------------------------------------ common

    @property
    def version(self) -> str:
        return self.spec.name

    @property
    def junk_bytes(self) -> int:
        """Bytes received since the last valid frame that did not make a whole frame: skipped
        junk, and a partial frame still waiting for the rest (a plug never stops mid-frame)."""
        return self._buffer.junk + len(self._buffer)

    @property
    def device22(self) -> bool:
        return self.spec.device22

    def set_device22(self, dp_ids: Iterable[str]) -> None:
        """Switch to device22 queries (CONTROL_NEW with an explicit DP list)."""
        self.spec = spec_for(self.spec.name, True)
        self.dp_ids_device22 = tuple(dp_ids)
        self._query_t = -1  # (the query payload changes)

    def data_to_send(self) -> bytes:
        """Bytes the protocol produced by itself (handshake answers); send them now."""
        if not self._outbox:
            return b""
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    def receive_data(self, data: bytes) -> list[ev.Event]:
        """Feed received bytes; return the events of every frame completed by them."""
        out: list[ev.Event] = []
        frames = self._buffer.whole(data)
        if frames is not None:  # the usual read: whole frames only
            for i, whole in enumerate(frames):
                try:
                    event = self._handle_frame(whole)
                except Exception:
                    self._buffer.feed(b"".join(frames[i + 1 :]))  # as if fed through the buffer
                    raise
                if event is not None:
                    out.append(event)
            return out
        self._buffer.feed(data)
        while True:
            frame = self._buffer.next_frame()
            if frame is None:
                return out
            event = self._handle_frame(frame)
            if event is not None:
                out.append(event)

    # ------------------------------------------------------------------ client API

    def start(self) -> bytes:
        """Begin the session: the 3.4/3.5 START frame, or nothing for older versions."""
        if not self._is_client or self.state is not State.IDLE:
            raise LocalProtocolError("start() is for a new client connection")
        if not self.spec.handshake:
            self.state = State.READY
            return b""
        self.state = State.NEGOTIATING
        self._nonce = self._random(16)
        return self._frame(Cmd.SESS_KEY_NEG_START, self._nonce, self._next_seqno())

    def query(self, t: int) -> bytes:
        """Read all data points (or the device22 list)."""
        spec = self.spec
        if spec.handshake and not spec.device22:  # 3.4/3.5: the payload is always "{}"
            return self._request_bytes(spec.query_cmd, _EMPTY_JSON)
        if t != self._query_t:  # the payload only changes with the second (a poll a second
            self._query_payload = self._query_json(t)  # still builds it every time)
            self._query_t = t
        return self._request_bytes(spec.query_cmd, self._query_payload)

    def _query_json(self, t: int) -> bytes:
        """The 3.1-3.3 (or device22) query payload at ``t``: only the plaintext is kept
        between queries; every frame is still sealed and numbered on its own."""
        spec = self.spec
        if spec.device22:
            payload: dict[str, Any] = {
                "devId": self.device_id,
                "uid": self.device_id,
                "t": str(t),
                "dps": {dp: None for dp in self.dp_ids_device22},
            }
        elif spec.legacy_json:
            payload = {
                "gwId": self.device_id,
                "devId": self.device_id,
                "uid": self.device_id,
                "t": str(t),
            }
        else:
            payload = {}
        return _encode(payload)

    def control(self, dps: dict[str, Any], t: int) -> bytes:
        """Set data points (e.g. ``{"1": False}`` switches outlet 1 off)."""
        if self.spec.legacy_json:
            payload: dict[str, Any] = {
                "devId": self.device_id,
                "uid": self.device_id,
                "t": str(t),
                "dps": dps,
            }
        else:
            payload = {"protocol": 5, "t": t, "data": {"dps": dps}}
        return self.request(self.spec.control_cmd, payload)

    def heartbeat(self) -> bytes:
        return self.request(Cmd.HEART_BEAT, {"gwId": self.device_id, "devId": self.device_id})

    def refresh(self, dp_ids: Iterable[int | str]) -> bytes:
        """UPDATEDPS: ask the plug to re-measure; changed values arrive as a push."""
        try:
            ids = [int(dp) for dp in dp_ids]
        except (TypeError, ValueError):
            raise LocalProtocolError(f"DP ids are whole numbers, not {list(dp_ids)!r:.60}") from None
        if ids != self._refresh_ids:  # a monitor asks for the same DPs every poll
            self._refresh_payload = dumps({"dpId": ids}).encode("utf-8")
            self._refresh_ids = ids
        return self._request_bytes(_UPDATEDPS, self._refresh_payload)

    def request(self, cmd: int, payload: dict[str, Any]) -> bytes:
        return self._request_bytes(cmd, _encode(payload))

    def _request_bytes(self, cmd: int, payload: bytes) -> bytes:
        if not self._is_client:
            raise LocalProtocolError("requests are sent by the client role")
        if self.state is not _READY:
            raise LocalProtocolError(f"cannot send a request while {self.state.value}")
        return self._frame(cmd, payload, self._next_seqno())

    # ------------------------------------------------------------------ device API

    def status_reply(self, request_seqno: int, cmd: int, dps: dict[str, Any], t: int) -> bytes:
        return self._device_frame(cmd, self._dps_payload(dps, t, push=False), request_seqno)

    def dps_payload(self, dps: dict[str, Any], t: int) -> bytes:
        """The plaintext payload :meth:`status_reply` sends for ``dps`` at ``t``.

        A device that answers many queries with the same values can build it once and pass
        it to :meth:`status_reply_payload` (JSON encoding is the biggest part of a reply).
        """
        return self._dps_payload(dps, t, push=False)

    def status_reply_payload(self, request_seqno: int, cmd: int, payload: bytes) -> bytes:
        """:meth:`status_reply` with a payload made by :meth:`dps_payload`."""
        return self._device_frame(cmd, payload, request_seqno)

    def push(self, dps: dict[str, Any], t: int) -> bytes:
        """An asynchronous STATUS push (cmd 8) with the DPs that changed."""
        seq = 0 if self.seqno_mode == "echo" else self._next_seqno()
        return self._device_frame(Cmd.STATUS, self._dps_payload(dps, t, push=True), seq, raw=True)

    def ack(self, request_seqno: int, cmd: int) -> bytes:
        return self._device_frame(cmd, b"", request_seqno)

    def heartbeat_reply(self, request_seqno: int) -> bytes:
        return self._device_frame(Cmd.HEART_BEAT, b"", request_seqno)

    def error_reply(self, request_seqno: int, cmd: int, message: str) -> bytes:
        return self._device_frame(cmd, message.encode("utf-8"), request_seqno, retcode=1)

    def refusal(self, received: bytes) -> bytes:
        """What a plug answers to a frame it could not open (wrong key or wrong version).

        Real plugs answer such a frame under their own key rather than hang up, so a client can
        tell "answered, but fails the integrity check" (wrong key, exit 5) from "closed without
        answering" (busy, exit 8): an error reply on 3.1-3.3, a session negotiation answer that
        the client's key cannot verify on 3.4/3.5. Empty when ``received`` is not a frame.
        """
        if self._is_client:
            raise LocalProtocolError("refusals are sent by the device role")
        header = peek_header(received)
        if header is None:
            return b""
        seqno, cmd = header
        if self.spec.handshake and self.state is not _READY:
            answer = self._random(16) + self._random(32)  # a nonce and a proof nobody can check
            return self._frame(Cmd.SESS_KEY_NEG_RESP, answer, seqno, retcode=0)
        return self._frame(cmd, b"data format error", seqno, retcode=1)

    def _dps_payload(self, dps: dict[str, Any], t: int, push: bool) -> bytes:
        if self.spec.legacy_json:
            body: dict[str, Any] = {"devId": self.device_id, "dps": dps}
            if push:
                body["t"] = t
        else:
            body = {"protocol": 4, "t": t, "data": {"dps": dps}}
        return dumps(body).encode("utf-8")

    def _device_frame(
        self, cmd: int, payload: bytes, request_seqno: int, retcode: int = 0, raw: bool = False
    ) -> bytes:
        if self._is_client:
            raise LocalProtocolError("replies are sent by the device role")
        if self.state is not _READY:
            raise LocalProtocolError(f"cannot reply while {self.state.value}")
        if raw or self.seqno_mode == "echo":
            seq = request_seqno
        else:
            seq = self._next_seqno()
        return self._frame(cmd, payload, seq, retcode=retcode)

    # ------------------------------------------------------------------ encoding

    def _next_seqno(self) -> int:
        self.seqno = (self.seqno + 1) & 0xFFFFFFFF
        return self.seqno

    def _frame(self, cmd: int, payload: bytes, seqno: int, retcode: int | None = None) -> bytes:
        """Encrypt and frame one message according to the version table."""
        spec = self.spec
        if self._is_client:
            retcode = None
        elif retcode is None:
            retcode = 0
        handshake = cmd in HANDSHAKE_CMDS
        header = bool(payload) and not handshake and cmd not in NO_HEADER_CMDS
        if spec.frame is _GCM6699:
            plain = payload
            if header:
                plain = self._header + plain
            if retcode is not None:
                plain = U32.pack(retcode) + plain
            gcm = self._handshake_gcm() if handshake else self._gcm
            assert gcm is not None
            return build_6699(seqno, cmd, plain, gcm, self._random(12))

        cipher = spec.cipher
        body: bytes
        if not payload:
            body = payload
        elif cipher is _PLAIN_V31:
            if self._is_client and cmd in _CONTROL_CMDS:
                if self._local_ecb is None:
                    raise LocalProtocolError("switching a 3.1 plug needs its local key")
                body = v31_encode(payload, self._local_ecb, self._key)
            else:
                body = payload
        elif cipher is _ECB_CLEAR_HEADER:
            assert self._local_ecb is not None
            body = self._seal(self._local_ecb, payload)
            if header:
                body = self._header + body
        elif handshake:  # ECB_SESSION, negotiating under the local key
            ecb = self._handshake_ecb()
            assert ecb is not None
            body = ecb.encrypt(payload)
        else:  # ECB_SESSION
            assert self._ecb is not None
            body = self._seal(self._ecb, self._header + payload if header else payload)
        if retcode is not None:
            body = U32.pack(retcode) + body
        if spec.integrity is _HMAC_SHA256:
            mac = self._hmac if not handshake and self._hmac is not None else (
                self._handshake_hmac()
            )
            return build_55aa(seqno, cmd, body, mac.digest, 32)
        return build_55aa(seqno, cmd, body, _crc_trailer, 4)

    def _seal(self, ecb: EcbCipher, plain: bytes) -> bytes:
        """ECB-encrypt ``plain``; a client remembers the result, as its requests repeat.

        ECB is deterministic, so a repeated plaintext under the same key has the same
        ciphertext: the query ("{}" on 3.4), a refresh or a heartbeat is encrypted once per
        session. The memo is emptied whenever the key changes (:meth:`_establish`).
        """
        if not self._is_client:
            return ecb.encrypt(plain)
        sealed = self._sealed.get(plain)
        if sealed is None:
            sealed = ecb.encrypt(plain)
            if len(self._sealed) >= _SEALED_CACHE_MAX:
                self._sealed.clear()
            self._sealed[plain] = sealed
        return sealed

    def _handshake_ecb(self) -> EcbCipher | None:
        """3.4: the ECB cipher under the local key, built when the handshake needs it."""
        if self._local_ecb is None and len(self._key) == 16:
            self._local_ecb = local_ecb(self._key)
        return self._local_ecb

    def _handshake_hmac(self) -> HmacSha256:
        """HMAC under the local key (3.4's handshake), built when a frame needs it: a 3.1-3.3
        or 3.5 connection never does, and a 3.4 one drops it once the session stands."""
        mac = self._local_hmac
        if mac is None:
            mac = self._local_hmac = HmacSha256(self._key)
        return mac

    def _handshake_gcm(self) -> GcmCipher | None:
        """3.5: the GCM cipher under the local key, built when the handshake needs it."""
        if self._local_gcm is None and len(self._key) == 16:
            self._local_gcm = GcmCipher(self._key)
        return self._local_gcm

    # ------------------------------------------------------------------ decoding

    def _handle_frame(self, frame: bytes) -> ev.Event | None:
        seqno, cmd, retcode, payload = self._open(frame)
        if cmd in HANDSHAKE_CMDS:
            return self._handle_handshake(seqno, cmd, payload)
        if self.state is not _READY:
            if self._is_client:
                raise HandshakeError(
                    "the plug answered the session negotiation with something else: "
                    "check the protocol version"
                )
            raise HandshakeError("client sent a request before negotiating a session key")
        if self._is_client:
            return self._client_event(seqno, cmd, retcode, payload)
        return self._device_event(seqno, cmd, payload)

    def _open(self, frame: bytes) -> tuple[int, int, int | None, bytes]:
        """Verify integrity, remove retcode and version header, decrypt. Returns plaintext."""
        spec = self.spec
        is_gcm = frame.startswith(PREFIX_6699)
        if is_gcm != (spec.frame is _GCM6699):
            raise IntegrityError(
                f"received a {'6699' if is_gcm else '55AA'} frame, which protocol "
                f"{spec.name} does not use: the protocol version is wrong"
            )
        if is_gcm:
            in_handshake = self.state is not _READY
            gcm = self._handshake_gcm() if in_handshake else self._gcm
            assert gcm is not None
            seqno, cmd, plain = open_6699(frame, gcm)
            retcode: int | None = None
            if self._is_client:
                retcode, plain = retcode_split(plain)
            if plain[:3] == self._header_prefix:
                plain = plain[15:]
            return seqno, cmd, retcode, plain

        seqno, cmd, body, signed, trailer = split_55aa(frame, self._trailer_len)
        if spec.integrity is _HMAC_SHA256:
            mac = self._hmac
            if mac is None or self.state is not _READY or cmd in HANDSHAKE_CMDS:
                mac = self._handshake_hmac()
            if not _hmac.compare_digest(mac.digest(signed), trailer):
                raise IntegrityError(f"frame failed its HMAC integrity check{WRONG_KEY}")
        elif _CRC.unpack(trailer)[0] != crc32(signed):
            raise IntegrityError(
                "frame failed its CRC integrity check: corrupted in transit, or the protocol "
                "version is wrong"
            )
        retcode = None
        if self._is_client:
            retcode, body = retcode_split(body)
        if not body:
            return seqno, cmd, retcode, body
        cipher = spec.cipher
        if cipher is _PLAIN_V31:
            if body[:3] == b"3.1":
                if self._local_ecb is None:
                    raise IntegrityError(
                        "the plug sent an encrypted 3.1 payload: give its local key to read it"
                    )
                return seqno, cmd, retcode, v31_decode(body, self._local_ecb)
            return seqno, cmd, retcode, body
        if cipher is _ECB_CLEAR_HEADER:
            # A clear 15-byte header makes the length 15 mod 16; checking the length as well as
            # the "3." prefix keeps a ciphertext that merely starts with "3." intact.
            if len(body) % 16 == 15 and (body[:2] == b"3." or spec.device22):
                body = body[15:]
            if len(body) % 16:
                return seqno, cmd, retcode, body  # cannot be ciphertext: plaintext or error text
            assert self._local_ecb is not None
            try:
                return seqno, cmd, retcode, self._local_ecb.decrypt(body)
            except IntegrityError:
                if body[:1] == b"{" or is_text(body):
                    return seqno, cmd, retcode, body  # an aligned plaintext answer
                raise
        ecb = self._ecb if self.state is _READY and cmd not in HANDSHAKE_CMDS else (
            self._handshake_ecb()
        )
        assert ecb is not None
        plain = ecb.decrypt(body)
        if plain[:3] == self._header_prefix:
            plain = plain[15:]
        return seqno, cmd, retcode, plain

    def _client_event(
        self, seqno: int, cmd: int, retcode: int | None, payload: bytes
    ) -> ev.Event:
        if retcode:
            return ev.DeviceErrorReply(
                seqno, cmd, payload.decode("utf-8", "replace").strip("\x00"), retcode
            )
        if not payload:
            if cmd == _HEART_BEAT:
                return ev.HeartbeatAck(seqno)
            return ev.Ack(seqno, cmd)
        data = parse_json(payload)
        if data is None:
            return ev.DeviceErrorReply(seqno, cmd, payload.decode("ascii").strip(), retcode)
        dps = data.get("dps")
        if dps is None:
            inner = data.get("data")
            if isinstance(inner, dict):
                dps = inner.get("dps")
        if not isinstance(dps, dict):
            if cmd == _HEART_BEAT:
                return ev.HeartbeatAck(seqno)
            return ev.Reply(seqno, cmd, data)
        if len(payload) > DPS_CHECK_BYTES:
            check_dps(dps)
        if cmd == _STATUS:
            return ev.DpsPush(seqno, dps, data)
        return ev.StatusReply(seqno, cmd, dps, data)

    def _device_event(self, seqno: int, cmd: int, payload: bytes) -> ev.Event:
        if not payload or payload == _EMPTY_JSON:  # 3.4/3.5 queries: nothing to parse
            data: dict[str, Any] | None = {}
        else:
            data = parse_json(payload)
        if data is None:
            raise IntegrityError("request did not decode to JSON: wrong key or version")
        if cmd in _QUERY_CMDS:
            return ev.QueryRequest(seqno, cmd, None)
        if cmd == _HEART_BEAT:
            return ev.HeartbeatRequest(seqno)
        if cmd == _UPDATEDPS:
            ids = data.get("dpId")
            if not isinstance(ids, list):
                ids = []
            return ev.RefreshRequest(seqno, tuple(str(i) for i in ids if isinstance(i, (int, str))))
        if cmd in _CONTROL_CMDS:
            dps = data.get("dps")
            if dps is None and isinstance(data.get("data"), dict):
                dps = data["data"].get("dps")
            if not isinstance(dps, dict):
                return ev.UnknownRequest(seqno, cmd, data)
            if dps and all(v is None for v in dps.values()):
                return ev.QueryRequest(seqno, cmd, tuple(str(k) for k in dps))
            return ev.ControlRequest(seqno, cmd, {str(k): v for k, v in dps.items()})
        return ev.UnknownRequest(seqno, cmd, data)

    # ------------------------------------------------------------------ handshake

    def _handle_handshake(self, seqno: int, cmd: int, payload: bytes) -> ev.Event | None:
        if not self.spec.handshake:
            raise ProtocolError(f"protocol {self.spec.name} has no session negotiation")
        if self._is_client:
            if cmd != Cmd.SESS_KEY_NEG_RESP or self.state is not State.NEGOTIATING:
                raise HandshakeError("unexpected session negotiation frame from the plug")
            if len(payload) < 48:
                raise HandshakeError("session negotiation answer too short: wrong key or version")
            device_nonce, proof = payload[:16], payload[16:48]
            local_mac = self._handshake_hmac().digest  # (hmac_sha256's bytes, ~half the cost)
            if not _hmac.compare_digest(proof, local_mac(self._nonce)):
                raise HandshakeError(
                    "the plug's session negotiation proof does not match: the local key is wrong"
                )
            self._outbox += self._frame(
                Cmd.SESS_KEY_NEG_FINISH, local_mac(device_nonce), self._next_seqno()
            )
            self._establish(self._nonce, device_nonce)
            return ev.SessionEstablished()
        # device role
        if cmd == Cmd.SESS_KEY_NEG_START:
            if len(payload) < 16:
                raise HandshakeError("session negotiation start too short")
            client_nonce = payload[:16]
            self._client_nonce = client_nonce
            self._nonce = self._random(8).hex().encode("ascii")  # real plugs: 16 hex chars
            self.state = State.NEGOTIATING
            answer = self._nonce + hmac_sha256(self._key, client_nonce)
            seq = seqno if self.seqno_mode == "echo" else self._next_seqno()
            self._outbox += self._frame(Cmd.SESS_KEY_NEG_RESP, answer, seq, retcode=0)
            return None
        if cmd == Cmd.SESS_KEY_NEG_FINISH:
            client_nonce = getattr(self, "_client_nonce", b"")
            if not client_nonce or not _hmac.compare_digest(
                payload[:32], hmac_sha256(self._key, self._nonce)
            ):
                raise HandshakeError("client's session negotiation proof does not match")
            self._establish(client_nonce, self._nonce)
            return ev.SessionEstablished()
        raise HandshakeError("unexpected session negotiation frame from the client")

    def _establish(self, client_nonce: bytes, device_nonce: bytes) -> None:
        if self.spec.frame is FrameKind.GCM6699:
            key = session_key_v35(self._key, client_nonce, device_nonce)
            self._gcm = GcmCipher(key)
        else:
            key = session_key_v34(self._key, client_nonce, device_nonce, self._handshake_ecb())
            self._ecb = EcbCipher(key)
        self._hmac = HmacSha256(key)
        self._sealed.clear()
        # The local-key ciphers are done with (a new negotiation rebuilds them): a monitor
        # holds one connection per plug, and they are its biggest objects.
        self._local_ecb = self._local_gcm = self._local_hmac = None
        self.session_key = key
        self.state = State.READY
