"""The Smart Life QR route: log in by scanning a code in the app, no developer account.

Best effort by nature: the only public ``client_id``/``schema`` pair is Home Assistant's
(docs/cloud-keys.md), so both are options. Two parts:

* :class:`QrLogin` makes the two unsigned login calls itself (httpx). The SDK's
  ``LoginControl`` hard-codes ``https://apigw.iotbing.com``, which would make ``--base-url`` and
  offline tests impossible; the calls are plain JSON, so nothing is lost.
* :class:`SharingApi` is a thin adapter over tuya-device-sharing-sdk's ``CustomerApi`` (the
  ``cloud`` extra) for the encrypted business calls (AES-GCM, X-sign, token refresh). Its base
  URL is the ``endpoint`` of the login (or ``--base-url``), so the tests point it at a fake.
  The SDK logs decrypted replies (local keys!) at debug level: its logger is disabled here.
"""

from __future__ import annotations

import importlib
import io
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from ..errors import UsageError
from .devices import (
    MAX_DEVICES,
    CloudDevice,
    device_from_cloud,
    safe_path_part,
)
from .errors import CloudError, cloud_error
from .openapi import FetchResult, add_specifications, json_object, quiet_http_logs, read_bounded

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_SCHEMA",
    "LOGIN_URL",
    "LoginInfo",
    "QrLogin",
    "SharingApi",
    "fetch_shared_devices",
    "qr_text",
    "render_qr",
    "require_extra",
    "wait_for_confirmation",
]

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID: Final = "HA_3y9q4ak7g4ephrvke"
"""Home Assistant's client id: the only public one (Tuya may revoke it; --client-id overrides)."""
DEFAULT_SCHEMA: Final = "haauthorize"
LOGIN_URL: Final = "https://apigw.iotbing.com"
_LOGIN_PATH: Final = "/v1.0/m/life/home-assistant/qrcode/tokens"
_EXTRA_HINT: Final = "install the cloud extra: pip install 'tuya-powermonitor[cloud]'"
_MAX_HOMES: Final = 50
_USER_CODE_HINT: Final = ("check the User Code (Smart Life app: Me → ⚙ → Account and Security → "
                          "User Code; case-sensitive)")


def require_extra() -> None:
    """UsageError now, not after the user scanned the code, when the ``cloud`` extra is missing."""
    try:
        for module in ("qrcode", "tuya_sharing.customerapi"):
            importlib.import_module(module)
    except ImportError:
        raise UsageError(f"the QR route needs tuya-device-sharing-sdk and qrcode: {_EXTRA_HINT}"
                         ) from None


def qr_text(token: str) -> str:
    """What the QR code says: the app recognises this prefix."""
    return f"tuyaSmart--qrLogin?token={token}"


def render_qr(text: str, *, dark_terminal: bool = True) -> str:
    """The QR code as terminal text (half-block characters), via the ``qrcode`` package.

    Blocks are drawn in the text colour: on a dark terminal they must be the light modules
    (``invert``), or the phone sees a negative it may refuse.
    """
    try:
        import qrcode  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError(f"cannot draw the QR code: {_EXTRA_HINT}") from None
    code = qrcode.QRCode(border=2)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=dark_terminal)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class LoginInfo:
    """A confirmed login. Tokens stay out of repr; nothing here is ever written to disk."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expire_time: int
    uid: str
    terminal_id: str
    endpoint: str
    t: int
    username: str = ""

    def token_info(self) -> dict[str, Any]:
        """The dict the SDK's ``CustomerTokenInfo`` reads."""
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expire_time": self.expire_time, "uid": self.uid, "t": self.t}


def _string(result: Mapping[str, Any], name: str, limit: int = 512) -> str:
    value = result.get(name)
    return value[:limit] if isinstance(value, str) and value.isprintable() else ""


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class QrLogin:
    """The two unsigned login calls: ask for a QR token, then ask whether it was confirmed."""

    def __init__(self, base_url: str = LOGIN_URL, *, client_id: str = DEFAULT_CLIENT_ID,
                 schema: str = DEFAULT_SCHEMA, timeout: float = 15.0) -> None:
        quiet_http_logs()
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.schema = schema
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, params: dict[str, str], label: str
              ) -> dict[str, Any]:
        try:
            with self._http.stream(method, path, params=params) as response:
                raw = read_bounded(response, "the login server")
        except httpx.HTTPError as exc:
            raise CloudError(f"cannot reach the Tuya login server at {self.base_url}: "
                             f"{type(exc).__name__}") from None
        reply = json_object(raw)
        if reply is None:
            raise CloudError(f"the Tuya login server at {self.base_url} answered {label} "
                             "with no JSON object (wrong --base-url?)")
        return reply

    def request_token(self, user_code: str) -> str:
        """A fresh QR token for ``user_code`` (valid about 5 minutes)."""
        reply = self._call("POST", _LOGIN_PATH, {"clientid": self.client_id,
                           "usercode": user_code, "schema": self.schema}, "the QR request")
        result = reply.get("result")
        token = safe_path_part(result.get("qrcode") if isinstance(result, Mapping) else None)
        if not reply.get("success") or not token:
            raise cloud_error(reply.get("code"), reply.get("msg"),
                              what=f"QR code request ({_USER_CODE_HINT}; a non-default "
                                   "--client-id/--schema may be refused)")
        return token

    def poll(self, token: str, user_code: str) -> LoginInfo | None:
        """The login once confirmed in the app; None while not (yet) confirmed."""
        reply = self._call("GET", f"{_LOGIN_PATH}/{token}",
                           {"clientid": self.client_id, "usercode": user_code}, "the login poll")
        result = reply.get("result")
        if not reply.get("success") or not isinstance(result, Mapping):
            return None
        info = LoginInfo(
            access_token=_string(result, "access_token"),
            refresh_token=_string(result, "refresh_token"),
            expire_time=_number(result.get("expire_time")),
            uid=_string(result, "uid"), terminal_id=_string(result, "terminal_id"),
            endpoint=_string(result, "endpoint"), t=_number(reply.get("t")),
            username=_string(result, "username", 128),
        )
        if not info.access_token or not info.endpoint:
            raise CloudError("the login was confirmed but the reply has no token or endpoint")
        # The token goes to this endpoint next: never in clear text, unless the login server
        # itself was named as plain http (a local test or proxy via --base-url).
        allowed = ("https://", "http://") if self.base_url.startswith("http://") else (
            "https://",)
        if not info.endpoint.startswith(allowed):
            raise CloudError("the login server named an endpoint that is not https: refused")
        return info


def wait_for_confirmation(
    login: QrLogin, token: str, user_code: str, *, interval: float = 3.0,
    timeout: float = 240.0, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LoginInfo:
    """Poll every ``interval`` s until the user confirms in the app, or ``timeout`` passes."""
    deadline = clock() + timeout
    while True:
        info = login.poll(token, user_code)
        if info is not None:
            return info
        if clock() + interval > deadline:
            raise CloudError(f"the login was not confirmed in the app within {timeout:g} s "
                             "(the QR code expires after about 5 minutes): run the wizard again "
                             "and scan with the original Smart Life or Tuya Smart app")
        sleep(interval)


class SharingApi:
    """``get(path, params) -> result`` over the SDK's encrypted, signed transport."""

    def __init__(self, login: LoginInfo, *, client_id: str, user_code: str,
                 endpoint: str | None = None) -> None:
        try:
            from tuya_sharing.customerapi import (  # type: ignore[import-untyped]
                CustomerApi,
                CustomerTokenInfo,
                SharingTokenListener,
            )
        except ImportError:
            raise UsageError(f"the QR route needs tuya-device-sharing-sdk: {_EXTRA_HINT}"
                             ) from None
        logging.getLogger("tuya_sharing").disabled = True  # it logs decrypted replies
        quiet_http_logs()
        for name in ("urllib3", "requests"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.refreshed = 0
        owner = self

        class _Listener(SharingTokenListener):  # type: ignore[misc]
            """Keeps a refreshed token in memory only (a one-shot wizard needs no more)."""

            def update_token(self, token_info: dict[str, Any]) -> None:
                owner.refreshed += 1

        self._exceptions: tuple[type[BaseException], ...] = _sdk_exceptions()
        self._api = CustomerApi(CustomerTokenInfo(login.token_info()), client_id, user_code,
                                (endpoint or login.endpoint).rstrip("/"), _Listener())

    def get(self, path: str, params: dict[str, Any] | None = None, *, label: str = "") -> Any:
        label = label or path
        try:
            reply = self._api.get(path, params)
        except self._exceptions as exc:
            raise cloud_error(getattr(exc, "error_code", ""), getattr(exc, "error_message", ""),
                              what=label) from None
        except Exception as exc:  # noqa: BLE001 - the SDK lets requests/GCM/JSON/KeyError out
            raise CloudError(f"the Tuya cloud call {label} failed: {type(exc).__name__}"
                             ) from None
        if not isinstance(reply, Mapping):
            raise CloudError(f"the Tuya cloud refused {label} (HTTP error)")
        return reply.get("result")


def _sdk_exceptions() -> tuple[type[BaseException], ...]:
    from tuya_sharing.exceptions import ApiRequestException  # type: ignore[import-untyped]

    return (ApiRequestException,)


def fetch_shared_devices(api: SharingApi, *, specifications: bool = True) -> FetchResult:
    """Every device in the account's homes, with keys and (best effort) DP mappings."""
    homes = api.get("/v1.0/m/life/users/homes", label="homes")
    if not isinstance(homes, list):
        raise CloudError("the Tuya cloud sent no list of homes")
    found: dict[str, CloudDevice] = {}
    notes: list[str] = []
    for home in homes[:_MAX_HOMES]:
        owner = home.get("ownerId") if isinstance(home, Mapping) else None
        if isinstance(owner, bool) or not isinstance(owner, str | int):
            continue
        devices = api.get("/v1.0/m/life/ha/home/devices", {"homeId": str(owner)},
                          label="home devices")
        for entry in devices if isinstance(devices, list) else []:
            dev = device_from_cloud(entry)
            if dev is not None and len(found) < MAX_DEVICES:
                found.setdefault(dev.device_id, dev)
    if specifications:
        add_specifications(found, notes, lambda dev_id: api.get(
            f"/v1.1/m/life/{dev_id}/specifications", label="specifications"))
    return FetchResult(tuple(found.values()), tuple(notes))
