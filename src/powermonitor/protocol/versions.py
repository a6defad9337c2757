"""One row per protocol version: adding a version is adding a row, not an if-chain.

``device22`` is a mode, not a version of its own: plugs that answer DP_QUERY with
"json obj data unvalid" are queried with CONTROL_NEW and an explicit DP list. Protocol 3.2
always works that way, and 3.3/3.4 plugs can be switched to it after detection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from ..errors import UnknownVersionError
from .commands import Cmd


class FrameKind(Enum):
    AA55 = "55aa"
    GCM6699 = "6699"


class PayloadCipher(Enum):
    PLAIN_V31 = "3.1"  # plaintext JSON; CONTROL as "3.1"+md5 sig+base64(ECB)
    ECB_CLEAR_HEADER = "ecb"  # 3.2/3.3: ECB under the local key, header in clear before it
    ECB_SESSION = "ecb-session"  # 3.4: ECB under the session key, header inside
    GCM_SESSION = "gcm-session"  # 3.5: 6699 GCM under the session key, header inside


class Integrity(Enum):
    CRC32 = "crc32"
    HMAC_SHA256 = "hmac-sha256"
    GCM_TAG = "gcm"


@dataclass(frozen=True, slots=True)
class VersionSpec:
    name: str
    frame: FrameKind
    cipher: PayloadCipher
    integrity: Integrity
    handshake: bool
    query_cmd: Cmd
    control_cmd: Cmd
    device22: bool
    header: bytes  # the 15-byte version header that commands outside NO_HEADER_CMDS carry

    @property
    def legacy_json(self) -> bool:
        """3.1–3.3 payloads carry gwId/devId/uid and a string ``t``; 3.4+ use ``protocol: 5``."""
        return not self.handshake


def _header(v: str) -> bytes:
    return v.encode("ascii") + b"\x00" * 12


VERSIONS: dict[str, VersionSpec] = {
    "3.1": VersionSpec(
        "3.1", FrameKind.AA55, PayloadCipher.PLAIN_V31, Integrity.CRC32, False,
        Cmd.DP_QUERY, Cmd.CONTROL, False, _header("3.1"),
    ),
    "3.2": VersionSpec(
        "3.2", FrameKind.AA55, PayloadCipher.ECB_CLEAR_HEADER, Integrity.CRC32, False,
        Cmd.CONTROL_NEW, Cmd.CONTROL, True, _header("3.2"),
    ),
    "3.3": VersionSpec(
        "3.3", FrameKind.AA55, PayloadCipher.ECB_CLEAR_HEADER, Integrity.CRC32, False,
        Cmd.DP_QUERY, Cmd.CONTROL, False, _header("3.3"),
    ),
    "3.4": VersionSpec(
        "3.4", FrameKind.AA55, PayloadCipher.ECB_SESSION, Integrity.HMAC_SHA256, True,
        Cmd.DP_QUERY_NEW, Cmd.CONTROL_NEW, False, _header("3.4"),
    ),
    "3.5": VersionSpec(
        "3.5", FrameKind.GCM6699, PayloadCipher.GCM_SESSION, Integrity.GCM_TAG, True,
        Cmd.DP_QUERY_NEW, Cmd.CONTROL_NEW, False, _header("3.5"),
    ),
}

AUTO_ORDER: tuple[str, ...] = ("3.3", "3.4", "3.5", "3.1", "3.2")
"""Order in which ``version=auto`` tries versions: most common first, one connection at a time."""


def normalize_version(value: str | float | None) -> str:
    """Accept "3.3", 3.3, "33", "v3.3", "auto", "device22"; return a key of VERSIONS or "auto"."""
    if value is None:
        return "auto"
    text = str(value).strip().lower().lstrip("v")
    if text in ("", "auto"):
        return "auto"
    if text == "device22":
        return "3.2"
    if len(text) == 2 and text.isascii() and text.isdigit():
        text = f"{text[0]}.{text[1]}"
    if text in ("3", "3.0"):
        text = "3.3"
    if text not in VERSIONS:
        raise UnknownVersionError(
            f"unknown protocol version {value!r}: use one of {', '.join(VERSIONS)} or auto"
        )
    return text


def spec_for(version: str, device22: bool = False) -> VersionSpec:
    """The table row of ``version`` (not "auto"), switched to device22 queries if asked."""
    name = normalize_version(version)
    if name == "auto":
        raise UnknownVersionError('a connection needs a protocol version, not "auto"')
    spec = VERSIONS[name]
    if device22 and not spec.device22:
        spec = replace(spec, device22=True, query_cmd=Cmd.CONTROL_NEW)
    return spec
