"""55AA and 6699 framing: splitting a byte stream into frames and building frames.

No crypto policy lives here beyond what the frame format itself dictates: the 55AA trailer is
computed by a callable the caller supplies (CRC32 or HMAC), and 6699 frames are AES-GCM sealed
with the cipher the caller supplies, because in that format integrity and encryption are one step.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from ..errors import IntegrityError, ProtocolError
from ..limits import MAX_FRAME_LENGTH, MAX_JUNK_BYTES
from .crypto import GcmCipher

PREFIX_55AA: Final = b"\x00\x00\x55\xaa"
SUFFIX_55AA: Final = b"\x00\x00\xaa\x55"
PREFIX_6699: Final = b"\x00\x00\x66\x99"
SUFFIX_6699: Final = b"\x00\x00\x99\x66"

HEADER_55AA = struct.Struct(">4sIII")  # prefix, seqno, cmd, length
HEADER_6699 = struct.Struct(">4sHIII")  # prefix, reserved, seqno, cmd, length
U32 = struct.Struct(">I")
RETCODE_MASK: Final = 0xFFFFFF00


class FrameBuffer:
    """Accumulates received bytes and cuts them into whole frames.

    Bytes before a frame prefix are discarded (as every peer implementation does); a partial
    prefix at the end is kept for the next read. A frame with an impossible length or a bad
    suffix raises :class:`ProtocolError` after the buffer has skipped past its prefix, so the
    stream can resynchronise if the caller chooses to continue.

    :attr:`junk` counts the bytes discarded since the last whole frame: a little noise is
    skipped, more than ``max_junk`` is a :class:`ProtocolError` (the peer is not a Tuya plug),
    and a caller that times out with junk pending reports garbage rather than silence. After
    junk the buffer always keeps the last bytes, so the next frame goes through
    :meth:`next_frame`, which resets the count (the :meth:`whole` fast path needs no check).
    """

    __slots__ = ("_buf", "junk", "max_junk", "max_length")

    def __init__(
        self, max_length: int = MAX_FRAME_LENGTH, max_junk: int = MAX_JUNK_BYTES
    ) -> None:
        self._buf = bytearray()
        self.max_length = max_length
        self.max_junk = max_junk
        self.junk = 0

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def whole(self, data: bytes) -> list[bytes] | None:
        """The frames of ``data`` when nothing is buffered and it is only whole frames.

        That is the usual read (a reply, or an acknowledgement, a push and a reply, each
        complete): it then skips the buffer's append, copy and delete per frame. Anything else
        (a partial frame, garbage, a bad length or suffix) returns None, and the caller uses
        :meth:`feed` and :meth:`next_frame`, which also raise the errors for a broken stream.
        """
        if self._buf or type(data) is not bytes:
            return None
        n = len(data)
        start = 0
        frames = []
        while start < n:
            if data.startswith(PREFIX_55AA, start):
                if n - start < 16:
                    return None
                length = U32.unpack_from(data, start + 12)[0]
                end = start + 16 + length
                ok = 8 <= length <= self.max_length and data.startswith(SUFFIX_55AA, end - 4)
            elif data.startswith(PREFIX_6699, start):
                if n - start < 18:
                    return None
                length = U32.unpack_from(data, start + 14)[0]
                end = start + 22 + length
                ok = 28 <= length <= self.max_length and data.startswith(SUFFIX_6699, end - 4)
            else:
                return None
            if not ok or end > n:
                return None
            frames.append(data if end == n and start == 0 else data[start:end])
            start = end
        return frames

    def next_frame(self) -> bytes | None:
        """Return the next complete frame, or None when more data is needed."""
        buf = self._buf
        while True:
            if len(buf) < 4:
                return None
            is_55aa = buf.startswith(PREFIX_55AA)
            if not is_55aa and not buf.startswith(PREFIX_6699):
                self._resync()
                continue
            if is_55aa:
                if len(buf) < 16:
                    return None
                length = U32.unpack_from(buf, 12)[0]
                total = 16 + length
                minimum, suffix = 8, SUFFIX_55AA
            else:
                if len(buf) < 18:
                    return None
                length = U32.unpack_from(buf, 14)[0]
                total = 18 + length + 4
                minimum, suffix = 28, SUFFIX_6699
            if length < minimum or length > self.max_length:
                del buf[:4]
                raise ProtocolError(f"frame length {length} is impossible: the stream is corrupt")
            if len(buf) < total:
                return None
            if buf[total - 4 : total] != suffix:
                del buf[:4]
                raise ProtocolError("frame does not end with its suffix: the stream is corrupt")
            frame = bytes(buf[:total])
            del buf[:total]
            self.junk = 0
            return frame

    def _resync(self) -> None:
        buf = self._buf
        i55 = buf.find(PREFIX_55AA, 1)
        i66 = buf.find(PREFIX_6699, 1)
        found = [i for i in (i55, i66) if i >= 0]
        skipped = min(found) if found else max(1, len(buf) - 3)
        del buf[:skipped]
        self.junk += skipped
        if self.junk > self.max_junk:
            self.junk = 0
            raise ProtocolError(
                f"the peer sent more than {self.max_junk} bytes that are not Tuya frames: "
                "is this port really a Tuya plug?"
            )


def peek_header(data: bytes) -> tuple[int, int] | None:
    """(seqno, cmd) of the frame ``data`` starts with, without checking anything else."""
    if data[:4] == PREFIX_55AA and len(data) >= HEADER_55AA.size:
        return HEADER_55AA.unpack_from(data, 0)[1:3]
    if data[:4] == PREFIX_6699 and len(data) >= HEADER_6699.size:
        return HEADER_6699.unpack_from(data, 0)[2:4]
    return None


def build_55aa(
    seqno: int,
    cmd: int,
    body: bytes,
    trailer: Callable[[bytes], bytes],
    trailer_len: int,
) -> bytes:
    """Frame ``body`` (retcode already included if any); ``trailer`` computes CRC/HMAC bytes."""
    length = len(body) + trailer_len + 4
    signed = HEADER_55AA.pack(PREFIX_55AA, seqno, cmd, length) + body
    return signed + trailer(signed) + SUFFIX_55AA


def split_55aa(frame: bytes, trailer_len: int) -> tuple[int, int, bytes, bytes, bytes]:
    """Return (seqno, cmd, body, signed span, trailer) of a whole 55AA frame."""
    _, seqno, cmd, _length = HEADER_55AA.unpack_from(frame, 0)
    end = len(frame) - 4 - trailer_len
    if end < 16:
        raise IntegrityError(
            f"frame too short for a {trailer_len}-byte integrity check: wrong protocol version?"
        )
    return seqno, cmd, frame[16:end], frame[:end], frame[end:-4]


def retcode_split(body: bytes) -> tuple[int | None, bytes]:
    """Separate a device's 4-byte return code from the payload.

    Device frames carry it and client frames do not; like tuyapi we recognise it by value
    (a small integer), because payloads start with ``{``, ``3.x`` or ciphertext.
    """
    if len(body) >= 4:
        value = U32.unpack_from(body, 0)[0]
        if value & RETCODE_MASK == 0:
            return value, body[4:]
    return None, body


def build_6699(
    seqno: int, cmd: int, plaintext: bytes, cipher: GcmCipher, iv: bytes
) -> bytes:
    length = 12 + len(plaintext) + 16
    header = HEADER_6699.pack(PREFIX_6699, 0, seqno, cmd, length)
    return header + iv + cipher.encrypt(iv, plaintext, header[4:]) + SUFFIX_6699


def open_6699(frame: bytes, cipher: GcmCipher) -> tuple[int, int, bytes]:
    """Verify and decrypt a whole 6699 frame; return (seqno, cmd, plaintext)."""
    _, _, seqno, cmd, _ = HEADER_6699.unpack_from(frame, 0)
    iv = frame[18:30]
    plaintext = cipher.decrypt(iv, frame[30:-4], frame[4:18])
    return seqno, cmd, plaintext
