"""Ciphers and integrity checks for the Tuya LAN protocol, built on pyca/cryptography.

Objects here are built once per key and reused per frame: creating a cipher context costs more
than encrypting one small payload. ECB is stateless per block, so one long-lived encryptor and
decryptor serve every message as long as inputs are block aligned (PKCS#7 padding guarantees it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import IntegrityError

UDP_KEY: Final = hashlib.md5(b"yGAdlopoPVldABfn").digest()
"""Key of every discovery broadcast (a public constant of the protocol)."""

WRONG_KEY: Final = ": the local key or the protocol version is wrong"
"""How every integrity failure ends: what the user should check."""

BLOCK: Final = 16
_PADDING: Final = tuple(bytes((n,)) * n for n in range(BLOCK + 1))
"""``_PADDING[n]`` is the PKCS#7 padding of ``n`` bytes (index 0 is unused)."""


def pad(data: bytes) -> bytes:
    """PKCS#7: always adds 1..16 bytes, a full block when already aligned."""
    return data + _PADDING[BLOCK - (len(data) % BLOCK)]


def unpad(data: bytes) -> bytes:
    """Strip PKCS#7 padding; a pad byte outside 1..16 means the key was wrong."""
    if not data or len(data) % BLOCK:
        raise IntegrityError(f"decrypted payload has a broken block size{WRONG_KEY}")
    n = data[-1]
    if n < 1 or n > BLOCK or data[-n:] != _PADDING[n]:
        raise IntegrityError(f"payload failed its integrity check (invalid padding){WRONG_KEY}")
    return data[:-n]


_ECB_MODE: Final = modes.ECB()  # stateless: one instance serves every cipher


class EcbCipher:
    """AES-128-ECB with PKCS#7, one reusable context per direction."""

    __slots__ = ("_dec", "_enc")

    def __init__(self, key: bytes) -> None:
        cipher = Cipher(algorithms.AES(key), _ECB_MODE)
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, data: bytes, *, padding: bool = True) -> bytes:
        return self._enc.update(pad(data) if padding else data)

    def decrypt(self, data: bytes, *, padding: bool = True) -> bytes:
        if not data or len(data) % BLOCK:
            raise IntegrityError(
                f"encrypted payload of {len(data)} bytes is not a whole number of AES blocks"
                f"{WRONG_KEY}"
            )
        plain = self._dec.update(data)
        return unpad(plain) if padding else plain


_LOCAL_ECB: dict[bytes, EcbCipher] = {}
_LOCAL_ECB_MAX: Final = 64


def local_ecb(key: bytes) -> EcbCipher:
    """The shared :class:`EcbCipher` of a local key (ECB holds no state between messages).

    A reconnect would otherwise build the same two contexts again (about 14 µs); bounded, so
    a fleet larger than the memo only loses the saving, not memory.
    """
    cipher = _LOCAL_ECB.get(key)
    if cipher is None:
        if len(_LOCAL_ECB) >= _LOCAL_ECB_MAX:
            del _LOCAL_ECB[next(iter(_LOCAL_ECB))]  # the oldest
        cipher = _LOCAL_ECB[key] = EcbCipher(key)
    return cipher


class GcmCipher:
    """AES-128-GCM as used by 6699 frames: 12-byte IV, 16-byte tag, AAD = frame header."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Return ciphertext followed by the 16-byte tag."""
        return self._aead.encrypt(iv, plaintext, aad)

    def decrypt(self, iv: bytes, ciphertext_and_tag: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(iv, ciphertext_and_tag, aad)
        except InvalidTag:
            raise IntegrityError(f"frame failed its AES-GCM integrity check{WRONG_KEY}") from None


class HmacSha256:
    """HMAC-SHA256 with the key schedule computed once.

    RFC 2104 by hand: the SHA-256 states after the key XOR ipad/opad blocks are kept and
    ``copy()``-ed per message, which costs about half of ``hmac.HMAC.copy()`` (a Python-level
    object copy) and gives the same bytes.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\x00")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_SHA256_BLOCK: Final = 64
_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def v31_signature(b64: bytes, key: bytes) -> bytes:
    """The 16 hex characters a 3.1 CONTROL payload carries: md5("data=" b64 "||lpv=3.1||" key)[8:24]."""
    digest = hashlib.md5(b"data=" + b64 + b"||lpv=3.1||" + key).hexdigest()
    return digest[8:24].encode("ascii")


def v31_encode(payload: bytes, cipher: EcbCipher, key: bytes) -> bytes:
    """3.1 CONTROL body: "3.1" + signature + base64(ECB(payload))."""
    b64 = base64.b64encode(cipher.encrypt(payload))
    return b"3.1" + v31_signature(b64, key) + b64


def v31_decode(body: bytes, cipher: EcbCipher) -> bytes:
    """Inverse of :func:`v31_encode`. The signature is not checked, as no peer checks it."""
    try:
        raw = base64.b64decode(body[19:], validate=True)
    except ValueError:
        raise IntegrityError("3.1 payload is not valid base64") from None
    return cipher.decrypt(raw)


def session_key_v34(
    local_key: bytes, client_nonce: bytes, device_nonce: bytes, cipher: EcbCipher | None = None
) -> bytes:
    """``cipher``, if given, is an :class:`EcbCipher` for ``local_key`` (saves building one)."""
    xored = _xor(client_nonce, device_nonce)
    return (cipher or EcbCipher(local_key)).encrypt(xored, padding=False)


def session_key_v35(local_key: bytes, client_nonce: bytes, device_nonce: bytes) -> bytes:
    xored = _xor(client_nonce, device_nonce)
    return AESGCM(local_key).encrypt(client_nonce[:12], xored, None)[:16]


def _xor(a: bytes, b: bytes) -> bytes:
    """``a`` XOR ``b`` over the shorter length (as ``zip``), in one int XOR: a byte-by-byte
    generator costs four times as much, on every (re)connect."""
    n = min(len(a), len(b))
    return (int.from_bytes(a[:n]) ^ int.from_bytes(b[:n])).to_bytes(n)
