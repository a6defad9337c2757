"""Tuya IoT Platform request signing (the "new" and the "old" algorithm), pure functions.

Why this module is separate: the signature is the one thing the cloud checks before anything
else (code 1004), it is easy to get subtly wrong (key order, URL encoding, the newline after an
empty header block), and Tuya publishes vectors for it. Keeping it pure lets the vectors in
docs/cloud-keys.md be unit tests and lets the fake server in the tests re-derive nothing from
here (it has its own implementation), so a shared bug cannot hide.

New algorithm (projects created after 2021-06-30)::

    stringToSign = METHOD \\n hex(sha256(body)) \\n signedHeaders \\n URL
    token call:    sign = HMAC(secret, client_id + t + nonce + stringToSign)
    business call: sign = HMAC(secret, client_id + access_token + t + nonce + stringToSign)

The old algorithm signs only ``client_id [+ access_token] + t``. ``HMAC`` is HMAC-SHA256 as
upper-case hex. URL is the path plus ``?k=v&...`` with keys sorted and values NOT URL-encoded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = [
    "EMPTY_BODY_SHA256",
    "canonical_url",
    "sign_request",
    "string_to_sign",
]

EMPTY_BODY_SHA256: Final = hashlib.sha256(b"").hexdigest()


def canonical_url(path: str, params: Mapping[str, object] | None = None) -> str:
    """``path?k=v&...`` with keys sorted A→Z and values as-is (never URL-encoded)."""
    if not params:
        return path
    query = "&".join(f"{key}={params[key]}" for key in sorted(params))
    return f"{path}?{query}"


def string_to_sign(
    method: str, url: str, body: bytes = b"", signed_headers: Sequence[tuple[str, str]] = ()
) -> str:
    """The new algorithm's stringToSign; ``body`` is the exact bytes sent."""
    header_block = "".join(f"{name}:{value}\n" for name, value in signed_headers)
    body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    return f"{method.upper()}\n{body_hash}\n{header_block}\n{url}"


def sign_request(
    secret: str,
    client_id: str,
    t_ms: int | str,
    *,
    access_token: str = "",
    nonce: str = "",
    to_sign: str = "",
    old: bool = False,
) -> str:
    """The ``sign`` header: upper-case hex HMAC-SHA256 keyed with the Access Secret.

    ``access_token`` empty means a token call. ``old`` selects the pre-2021-06-30 algorithm,
    which ignores ``nonce`` and ``to_sign``.
    """
    message = f"{client_id}{access_token}{t_ms}"
    if not old:
        message += f"{nonce}{to_sign}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return digest.upper()
