"""The Tuya IoT Platform OpenAPI route (a developer account's Access ID/Secret), synchronous.

What it does, in the order ``fetch_devices`` does it: get a token (refreshed when it is about to
expire; one retry with a fresh token on 1010/1011; one retry after re-syncing to the server
clock on 1013), find the app user through one device id or list every device linked to the
project (paging with ``has_more``/``last_row_key``), fill keys and gateways from the second
list endpoint, MAC/uuid/sn from factory-infos, and each device's DP specifications.

Secrets never leave this module unmasked: the Access Secret only feeds HMAC, tokens only go in
headers, URLs with a token in them are logged by template, and httpx's own request log (which
prints full URLs) is kept at WARNING. Replies are bounded in size and checked for shape; only
:class:`CloudError` (or UsageError for a bad region) escapes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self

import httpx

from ..errors import UsageError
from ..models import mask_key
from .devices import (
    MAX_DEVICES,
    CloudDevice,
    device_from_cloud,
    mapping_from_specifications,
    safe_path_part,
)
from .errors import CloudError, cloud_error
from .signing import canonical_url, sign_request, string_to_sign

__all__ = [
    "REGIONS",
    "FetchResult",
    "OpenApi",
    "fetch_devices",
    "quiet_http_logs",
    "region_url",
]

log = logging.getLogger(__name__)

#: Region code → (data center, base URL); docs/cloud-keys.md "Regions".
REGIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({
    "cn": ("China", "https://openapi.tuyacn.com"),
    "us": ("Western America", "https://openapi.tuyaus.com"),
    "us-e": ("Eastern America", "https://openapi-ueaz.tuyaus.com"),
    "eu": ("Central Europe", "https://openapi.tuyaeu.com"),
    "eu-w": ("Western Europe", "https://openapi-weaz.tuyaeu.com"),
    "in": ("India", "https://openapi.tuyain.com"),
    "sg": ("Singapore", "https://openapi-sg.iotbing.com"),
})
_ALIASES: Final = MappingProxyType({"ay": "cn", "az": "us", "ue": "us-e", "we": "eu-w"})

MAX_REPLY_BYTES: Final = 8 * 1024 * 1024
MAX_PAGES: Final = 200
_REFRESH_MARGIN_S: Final = 60.0
_SKEW_RESYNC_MS: Final = 60_000
_TOKEN_RETRY_CODES: Final = frozenset({"1010", "1011"})
_FACTORY_BATCH: Final = 50


def region_url(region: str) -> str:
    """The OpenAPI base URL of a region code or alias; UsageError listing the codes otherwise."""
    code = region.strip().lower()
    code = _ALIASES.get(code, code)
    if code not in REGIONS:
        known = ", ".join(f"{c} ({REGIONS[c][0]})" for c in REGIONS)
        raise UsageError(f"unknown region {region!r}: use one of {known}")
    return REGIONS[code][1]


def quiet_http_logs() -> None:
    """httpx logs every full URL at INFO (a refresh token can be in one): keep it quiet."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(slots=True)
class _Token:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    expires_at: float
    uid: str = ""


def read_bounded(response: httpx.Response, who: str = "the cloud") -> bytes:
    """The reply body, refused past MAX_REPLY_BYTES (both cloud routes read through this)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise CloudError(f"{who}'s reply is larger than {MAX_REPLY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(raw: bytes) -> dict[str, Any] | None:
    """``raw`` parsed as a JSON object, or None (not JSON, too deep, or not an object)."""
    try:
        reply = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return reply if isinstance(reply, dict) else None


def add_specifications(found: dict[str, CloudDevice], notes: list[str],
                       fetch: Callable[[str], Any]) -> None:
    """Give every non-sub device the DP mapping ``fetch(device_id)`` returns; a device
    without specifications (code 2009) is skipped quietly, any other refusal noted."""
    for dev_id, dev in list(found.items()):
        if dev.sub:
            continue
        try:
            spec = fetch(dev_id)
        except CloudError as exc:
            if exc.code != "2009":
                notes.append(f"no DP specifications for {dev.name}: {exc}")
            continue
        found[dev_id] = replace(dev, mapping=mapping_from_specifications(spec))


class OpenApi:
    """A signed session with one cloud project. ``with OpenApi(...) as api: api.get(...)``."""

    def __init__(
        self,
        base_url: str,
        access_id: str,
        access_secret: str,
        *,
        old_signing: bool = False,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_id.strip() or not access_secret.strip():
            raise UsageError("the Access ID and Access Secret must not be empty")
        quiet_http_logs()
        self.base_url = base_url.rstrip("/")
        self._id = access_id.strip()
        self._secret = access_secret.strip()
        self.old_signing = old_signing
        self._clock = clock
        self._offset_ms = 0
        self._token: _Token | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout,
                                  follow_redirects=False, trust_env=False)
        self.calls = 0

    def __repr__(self) -> str:
        return f"OpenApi({self.base_url!r}, access_id={mask_key(self._id)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ one request

    def _now_ms(self) -> int:
        return int(self._clock() * 1000) + self._offset_ms

    def _send(self, method: str, path: str, params: Mapping[str, object] | None,
              body: Any, access_token: str, label: str) -> dict[str, Any]:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        t = str(self._now_ms())
        nonce = "" if self.old_signing else uuid.uuid4().hex
        to_sign = string_to_sign(method, canonical_url(path, params), payload)
        headers = {
            "client_id": self._id, "t": t, "sign_method": "HMAC-SHA256",
            "sign": sign_request(self._secret, self._id, t, access_token=access_token,
                                 nonce=nonce, to_sign=to_sign, old=self.old_signing),
        }
        if nonce:
            headers["nonce"] = nonce
        if access_token:
            headers["access_token"] = access_token
        if payload:
            headers["Content-Type"] = "application/json"
        self.calls += 1
        log.debug("cloud %s %s", method, label)
        try:
            with self._http.stream(method, path, params={k: str(v) for k, v in (params or {}).items()},
                                   content=payload,
                                   headers=headers) as response:
                raw = read_bounded(response)
                status = response.status_code
        except httpx.HTTPError as exc:
            # The exception text can hold the full URL: name its type only, and drop the chain.
            raise CloudError(f"cannot reach the Tuya cloud at {self.base_url}: "
                             f"{type(exc).__name__}") from None
        reply = json_object(raw)
        if reply is None:
            raise CloudError(f"the Tuya cloud at {self.base_url} answered {label} with HTTP "
                             f"{status} and no JSON object (wrong --base-url?)")
        return reply

    def _call_once(self, method: str, path: str, params: Mapping[str, object] | None,
                   body: Any, token_call: bool, label: str) -> dict[str, Any]:
        """One request; a 1013 reply with the server's clock re-syncs and retries once."""
        access = "" if token_call else self._ensure_token().access
        reply = self._send(method, path, params, body, access, label)
        if str(reply.get("code")) == "1013" and not reply.get("success"):
            server_t = reply.get("t")
            if isinstance(server_t, int) and not isinstance(server_t, bool):
                skew = server_t - self._now_ms()
                if abs(skew) > _SKEW_RESYNC_MS:
                    log.info("cloud clock differs from ours by %.0f s: adjusting", skew / 1000)
                    self._offset_ms += skew
                    reply = self._send(method, path, params, body, access, label)
        return reply

    def call(self, method: str, path: str, params: Mapping[str, object] | None = None,
             body: Any = None, *, label: str = "", token_call: bool = False) -> Any:
        """The ``result`` of a successful reply; CloudError with the table's message otherwise.

        A business call answered 1010/1011 gets a new token and is retried once.
        """
        label = label or path
        reply = self._call_once(method, path, params, body, token_call, label)
        code = str(reply.get("code", ""))
        if not reply.get("success") and not token_call and code in _TOKEN_RETRY_CODES:
            log.info("cloud token rejected (%s): getting a new one", code)
            if self._token is not None:
                self._token.expires_at = 0.0  # refresh it (or, failing that, a new grant)
            reply = self._call_once(method, path, params, body, token_call, label)
        if not reply.get("success"):
            raise cloud_error(reply.get("code"), reply.get("msg"), what=label)
        return reply.get("result")

    def get(self, path: str, params: Mapping[str, object] | None = None, *,
            label: str = "") -> Any:
        return self.call("GET", path, params, label=label)

    # ------------------------------------------------------------------ tokens

    def _store_token(self, result: Any, label: str) -> _Token:
        if not isinstance(result, Mapping):
            raise CloudError(f"the Tuya cloud sent no token ({label})")
        access, refresh = result.get("access_token"), result.get("refresh_token")
        expire = result.get("expire_time", 7200)
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise CloudError(f"the Tuya cloud sent a malformed token ({label})")
        if isinstance(expire, bool) or not isinstance(expire, int | float) or expire <= 0:
            expire = 7200
        uid = result.get("uid")
        self._token = _Token(access, refresh, self._clock() + min(float(expire), 86_400.0),
                             uid if isinstance(uid, str) else "")
        return self._token

    def _ensure_token(self) -> _Token:
        token = self._token
        if token is not None and self._clock() < token.expires_at - _REFRESH_MARGIN_S:
            return token
        if token is not None and safe_path_part(token.refresh):
            try:  # a refresh token works once and returns a new pair
                result = self.call("GET", f"/v1.0/token/{token.refresh}", token_call=True,
                                   label="token refresh")
                return self._store_token(result, "token refresh")
            except CloudError as exc:
                log.info("token refresh failed (%s): getting a new token", exc.code or "?")
        result = self.call("GET", "/v1.0/token", {"grant_type": 1}, token_call=True,
                           label="token")
        return self._store_token(result, "token")

    @property
    def token_uid(self) -> str:
        return self._ensure_token().uid

    # ------------------------------------------------------------------ listings

    def paged(self, path: str, params: Mapping[str, object], list_key: str,
              label: str) -> Iterator[Any]:
        """Every entry of a ``has_more``/``last_row_key`` listing (bounded pages and count)."""
        query = dict(params)
        seen_keys: set[str] = set()
        count = 0
        for _ in range(MAX_PAGES):
            result = self.get(path, query, label=label)
            if not isinstance(result, Mapping):
                raise CloudError(f"the Tuya cloud answered {label} without a result object")
            entries = result.get(list_key)
            for entry in entries if isinstance(entries, list) else []:
                count += 1
                if count > MAX_DEVICES:
                    log.warning("%s lists more than %d devices: the rest are ignored", label,
                                MAX_DEVICES)
                    return
                yield entry
            row_key = result.get("last_row_key")
            if not result.get("has_more") or not isinstance(row_key, str) or not row_key:
                return
            if row_key in seen_keys:
                raise CloudError(f"the Tuya cloud repeated a page of {label} (last_row_key)")
            seen_keys.add(row_key)
            query["last_row_key"] = row_key
        log.warning("%s has more than %d pages: the rest are ignored", label, MAX_PAGES)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The devices found, and notes on what could not be filled in (one line each)."""

    devices: tuple[CloudDevice, ...]
    notes: tuple[str, ...] = ()


def _entries(result: Any, label: str) -> list[Any]:
    if isinstance(result, list):
        return result
    raise CloudError(f"the Tuya cloud answered {label} without a device list")


def _merge_fill(found: dict[str, CloudDevice], extra: CloudDevice) -> None:
    """Add ``extra``, or fill fields the first list left empty (tinytuya's merge)."""
    old = found.get(extra.device_id)
    if old is None:
        found[extra.device_id] = extra
        return
    changes = {name: getattr(extra, name) for name in
               ("local_key", "gateway_id", "product_id", "product_name", "category", "uuid",
                "node_id") if not getattr(old, name) and getattr(extra, name)}
    if changes:
        found[extra.device_id] = replace(old, **changes)


def fetch_devices(api: OpenApi, device_id: str | None = None, *,
                  specifications: bool = True) -> FetchResult:
    """Every device of the linked app account(s), with local keys and DP mappings.

    With ``device_id``: that device names the app user, whose devices are listed (tinytuya's
    way). Without: every device linked to the project. The second list endpoint then fills
    missing keys and gateways; factory-infos and specifications are best effort (noted).
    """
    notes: list[str] = []
    found: dict[str, CloudDevice] = {}
    uids: list[str] = []
    if device_id:
        device_id = device_id.strip()
        if not safe_path_part(device_id):
            raise UsageError(f"not a Tuya device id: {device_id!r} (letters and digits, as "
                             "shown in the app's device information)")
        one = api.get(f"/v1.0/devices/{device_id}", label="device lookup")
        uid = safe_path_part(one.get("uid") if isinstance(one, Mapping) else None)
        if not uid:
            raise CloudError(f"the cloud does not say which app user owns device {device_id}")
        uids.append(uid)
        for entry in _entries(api.get(f"/v1.0/users/{uid}/devices", label="user devices"),
                              "user devices")[:MAX_DEVICES]:
            if (dev := device_from_cloud(entry)) is not None:
                found.setdefault(dev.device_id, dev)
    else:
        for entry in api.paged("/v1.0/iot-01/associated-users/devices", {"size": 50},
                               "devices", "linked devices"):
            if (dev := device_from_cloud(entry)) is not None:
                found.setdefault(dev.device_id, dev)
            owner = safe_path_part(entry.get("uid") if isinstance(entry, Mapping) else None)
            if owner and owner not in uids and len(uids) < 16:
                uids.append(owner)
    for uid in uids:
        try:
            for entry in api.paged("/v1.3/iot-03/devices", {"page_size": 75,
                                   "source_type": "tuyaUser", "source_id": uid},
                                   "list", "iot-03 devices"):
                if (dev := device_from_cloud(entry)) is not None and len(found) < MAX_DEVICES:
                    _merge_fill(found, dev)
        except CloudError as exc:
            notes.append(f"second device list not read: {exc}")
    _fill_factory_infos(api, found, notes)
    if specifications:
        add_specifications(found, notes, lambda dev_id: api.get(
            f"/v1.1/devices/{dev_id}/specifications", label="specifications"))
    return FetchResult(tuple(found.values()), tuple(notes))


def _fill_factory_infos(api: OpenApi, found: dict[str, CloudDevice], notes: list[str]) -> None:
    ids = sorted(found)
    for start in range(0, len(ids), _FACTORY_BATCH):
        batch = ",".join(ids[start:start + _FACTORY_BATCH])
        try:
            result = api.get("/v1.0/devices/factory-infos", {"device_ids": batch},
                             label="factory-infos")
        except CloudError as exc:
            notes.append(f"MAC addresses not read: {exc}")
            return
        for entry in result if isinstance(result, list) else []:
            if not isinstance(entry, Mapping) or entry.get("id") not in found:
                continue
            dev = found[entry["id"]]
            info = device_from_cloud(entry)
            if info is not None:
                found[dev.device_id] = replace(dev, mac=dev.mac or info.mac,
                                               uuid=dev.uuid or info.uuid, sn=dev.sn or info.sn)
