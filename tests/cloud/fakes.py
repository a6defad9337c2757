"""Fake Tuya clouds on 127.0.0.1 for the wizard tests: they CHECK every signature.

Both fakes re-derive signatures with their own code (not powermonitor.cloud.signing), so a
shared bug cannot hide, and answer Tuya's error codes when something is off. Failures are
injected per endpoint label with ``fail[label] = [code, ...]`` (consumed one per request).
Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CLIENT_ID = "fakeclientid0123456"
SECRET = "fake-secret-0123456789abcdefABCD"
UID = "az1600000000000abcde"
# Keys as the cloud sends them since 2023: punctuation included, JSON-escaped '<'.
KEYS = ["k<ey+One`^$0123x", "0123456789abcdef", "Zy(x)w<v+u`t^s$r"]


@dataclass
class FakeDevice:
    device_id: str
    name: str
    local_key: str
    product_id: str = "fakeprod01"
    uid: str = UID
    category: str = "cz"
    status: list[dict[str, Any]] | None = None  # None: specifications answer 2009
    sub: bool = False

    def cloud_entry(self, with_key: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.device_id, "name": self.name, "uid": self.uid, "category": self.category,
            "product_id": self.product_id, "product_name": "Smart Plug", "ip": "203.0.113.9",
            "online": True, "sub": self.sub, "uuid": f"uuid-{self.device_id[-6:]}",
        }
        if with_key:
            entry["local_key"] = self.local_key
        return entry


def plug_status(power_dp: int = 19, scale: int = 1) -> list[dict[str, Any]]:
    """A metering plug's specification ``status`` list (cz layout, values as JSON text)."""
    def values(unit: str, s: int) -> str:
        return json.dumps({"unit": unit, "min": 0, "max": 99999, "scale": s, "step": 1})
    return [
        {"code": "switch_1", "dp_id": 1, "type": "Boolean", "values": "{}"},
        {"code": "add_ele", "dp_id": 17, "type": "Integer", "values": values("kwh", 3)},
        {"code": "cur_current", "dp_id": 18, "type": "Integer", "values": values("mA", 0)},
        {"code": "cur_power", "dp_id": power_dp, "type": "Integer",
         "values": values("W", scale)},
        {"code": "cur_voltage", "dp_id": 20, "type": "Integer", "values": values("V", 1)},
    ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _FakeBase:
    """The HTTP plumbing both fakes share: a server thread and request routing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fail: dict[str, list[str]] = {}
        self.calls: list[str] = []  # endpoint labels, in order
        self.errors_sent: list[str] = []
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def injected(self, label: str) -> str | None:
        with self.lock:
            queue = self.fail.get(label)
            return queue.pop(0) if queue else None

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
               ) -> dict[str, Any]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake.handle(method, self.path, headers, body)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _error(code: str, msg: str, t: int | None = None) -> dict[str, Any]:
    return {"success": False, "code": int(code), "msg": msg,
            "t": t if t is not None else int(time.time() * 1000), "tid": uuid.uuid4().hex}


_MESSAGES = {
    "1004": "sign invalid", "1010": "token invalid", "1011": "token invalid",
    "1013": "request time is invalid", "1106": "permission deny",
    "2007": "cross-region access is not allowed", "2009": "not support this device",
    "28841001": "No permission. The data center is suspended.",
    "28841002": "No permissions. Your subscription to cloud development plan has expired.",
    "28841105": "No permissions. This project is not authorized to call this API.",
    "28841107": "No permission. The data center is suspended.",
}


class FakeOpenApi(_FakeBase):
    """The Tuya IoT Platform OpenAPI, as much of it as the wizard uses."""

    def __init__(self, devices: list[FakeDevice], *, old_signing: bool = False,
                 page_size: int = 2, expire_time: int = 7200) -> None:
        super().__init__()
        self.devices = devices
        self.old_signing = old_signing
        self.page_size = page_size
        self.expire_time = expire_time
        self.clock_offset_ms = 0
        self.tokens: dict[str, float] = {}  # access token -> expiry (server time, s)
        self.refresh_tokens: set[str] = set()
        self.refreshes = 0
        self.grants = 0
        self.signatures_checked = 0
        self.keyless_in_first_list: set[str] = set()
        self.nonces: set[str] = set()

    # ------------------------------------------------------------------ signature

    def expected_sign(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
                      ) -> str:
        t = headers.get("t", "")
        token = headers.get("access_token", "")
        if self.old_signing:
            message = CLIENT_ID + token + t
        else:
            signed = headers.get("signature-headers", "")
            block = "".join(f"{n}:{headers.get(n.lower(), '')}\n" for n in signed.split(":")
                            if n)
            parts = urlsplit(raw_path)
            pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
            url = unquote(parts.path) + ("?" + "&".join(f"{k}={v}" for k, v in pairs)
                                         if pairs else "")
            to_sign = "\n".join([method, hashlib.sha256(body).hexdigest(), block, url])
            message = CLIENT_ID + token + t + headers.get("nonce", "") + to_sign
        return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest().upper()

    # ------------------------------------------------------------------ routing

    @staticmethod
    def label_of(path: str) -> str:
        if path == "/v1.0/token":
            return "token"
        if path.startswith("/v1.0/token/"):
            return "refresh"
        if path == "/v1.0/iot-01/associated-users/devices":
            return "associated"
        if path == "/v1.3/iot-03/devices":
            return "iot03"
        if path == "/v1.0/devices/factory-infos":
            return "factory"
        if path.endswith("/specifications"):
            return "specs"
        if path.startswith("/v1.0/users/"):
            return "user_devices"
        if path.startswith("/v1.0/devices/"):
            return "device"
        return "unknown"

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
               ) -> dict[str, Any]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query))
        label = self.label_of(path)
        now_ms = int(time.time() * 1000) + self.clock_offset_ms
        with self.lock:
            self.calls.append(label)
        reply = self._checked(method, raw_path, path, query, label, headers, body, now_ms)
        if not reply.get("success"):
            self.errors_sent.append(f"{label}:{reply['code']}")
        return reply

    def _checked(self, method: str, raw_path: str, path: str, query: dict[str, str], label: str,
                 headers: dict[str, str], body: bytes, now_ms: int) -> dict[str, Any]:
        if headers.get("client_id") != CLIENT_ID:
            return _error("1005", "clientId invalid", now_ms)
        if headers.get("sign_method") != "HMAC-SHA256":
            return _error("1004", "sign invalid", now_ms)
        sign = headers.get("sign", "")
        if not hmac.compare_digest(sign, self.expected_sign(method, raw_path, headers, body)):
            return _error("1004", "sign invalid", now_ms)
        self.signatures_checked += 1
        try:
            t = int(headers.get("t", ""))
        except ValueError:
            return _error("1013", "request time is invalid", now_ms)
        if len(headers.get("t", "")) != 13 or abs(t - now_ms) > 300_000:
            return _error("1013", "request time is invalid", now_ms)
        nonce = headers.get("nonce", "")
        if nonce:
            if nonce in self.nonces:
                return _error("1004", "replayed nonce", now_ms)
            self.nonces.add(nonce)
        injected = self.injected(label)
        if injected is not None:
            return _error(injected, _MESSAGES.get(injected, "injected"), now_ms)
        token_call = label in ("token", "refresh")
        if token_call:
            if "access_token" in headers:
                return _error("1004", "sign invalid (token call with a token)", now_ms)
            if label == "token":
                if query.get("grant_type") != "1":
                    return _error("1109", "param is illegal", now_ms)
                self.grants += 1
            else:
                refresh = path.rsplit("/", 1)[1]
                with self.lock:
                    if refresh not in self.refresh_tokens:
                        return _error("1012", "refresh token invalid", now_ms)
                    self.refresh_tokens.discard(refresh)  # works once
                    self.refreshes += 1
            return self._ok(self._new_token(now_ms), now_ms)
        token = headers.get("access_token", "")
        expiry = self.tokens.get(token)
        if expiry is None:
            return _error("1011", "token invalid", now_ms)
        if now_ms / 1000 > expiry:
            return _error("1010", "token expired", now_ms)
        return self._business(label, path, query, now_ms)

    def _ok(self, result: Any, now_ms: int) -> dict[str, Any]:
        return {"success": True, "result": result, "t": now_ms, "tid": uuid.uuid4().hex}

    def _new_token(self, now_ms: int) -> dict[str, Any]:
        access, refresh = "at-" + os.urandom(8).hex(), "rt-" + os.urandom(8).hex()
        with self.lock:
            self.tokens[access] = now_ms / 1000 + self.expire_time
            self.refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh,
                "expire_time": self.expire_time, "uid": "bay-project-uid"}

    def expire_all_tokens(self) -> None:
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0

    def _page(self, entries: list[dict[str, Any]], query: dict[str, str], size_key: str,
              list_key: str) -> dict[str, Any]:
        size = min(int(query.get(size_key, "20")), self.page_size)
        start = int(query["last_row_key"].split("-")[1]) if "last_row_key" in query else 0
        page = entries[start:start + size]
        more = start + size < len(entries)
        result: dict[str, Any] = {list_key: page, "has_more": more, "total": len(entries)}
        if more:
            result["last_row_key"] = f"row-{start + size}"
        return result

    def _business(self, label: str, path: str, query: dict[str, str], now_ms: int
                  ) -> dict[str, Any]:
        by_id = {d.device_id: d for d in self.devices}
        if label == "device":
            dev = by_id.get(path.rsplit("/", 1)[1])
            if dev is None:
                return _error("1106", "permission deny", now_ms)
            return self._ok(dev.cloud_entry(), now_ms)
        if label == "user_devices":
            uid = path.split("/")[3]
            return self._ok([d.cloud_entry() for d in self.devices if d.uid == uid], now_ms)
        if label == "associated":
            entries = [d.cloud_entry(d.device_id not in self.keyless_in_first_list)
                       for d in self.devices]
            return self._ok(self._page(entries, query, "size", "devices"), now_ms)
        if label == "iot03":
            if query.get("source_type") != "tuyaUser":
                return _error("1109", "param is illegal", now_ms)
            entries = [d.cloud_entry() for d in self.devices if d.uid == query.get("source_id")]
            return self._ok(self._page(entries, query, "page_size", "list"), now_ms)
        if label == "factory":
            ids = query.get("device_ids", "").split(",")
            if len(ids) > 50:
                return _error("1109", "too many ids", now_ms)
            return self._ok([{"id": i, "mac": "10:d5:61:00:00:01", "uuid": f"u-{i}",
                              "sn": ""} for i in ids if i in by_id], now_ms)
        if label == "specs":
            dev = by_id.get(path.split("/")[3])
            if dev is None:
                return _error("1106", "permission deny", now_ms)
            if dev.status is None:
                return _error("2009", "not support this device", now_ms)
            functions = [s for s in dev.status if s["type"] == "Boolean"]
            return self._ok({"category": dev.category, "functions": functions,
                             "status": dev.status}, now_ms)
        return _error("1108", "uri path invalid", now_ms)


# --------------------------------------------------------------------------- QR route


def _derive(rid: str, refresh: str) -> tuple[str, bytes]:
    """(hash_key, AES key) per docs/cloud-keys.md, written independently of the SDK."""
    hash_key = hashlib.md5((rid + refresh).encode()).hexdigest()
    key = hmac.new(rid.encode(), hash_key.encode(), hashlib.sha256).hexdigest()[:16]
    return hash_key, key.encode()


def _decrypt_request(encdata: str, key: bytes) -> Any:
    nonce = base64.b64decode(encdata[:16])  # b64 of the 12-byte nonce is 16 characters
    return json.loads(AESGCM(key).decrypt(nonce, base64.b64decode(encdata[16:]), None))


def _encrypt_result(result: Any, key: bytes) -> str:
    nonce = os.urandom(6).hex().encode()[:12]
    sealed = AESGCM(key).encrypt(nonce, json.dumps(result).encode(), None)
    return base64.b64encode(nonce + sealed).decode()


@dataclass
class QrAccount:
    user_code: str = "EU1234567"
    username: str = "someone@example.com"
    homes: dict[str, list[FakeDevice]] = field(default_factory=dict)


class FakeSharing(_FakeBase):
    """The Smart Life QR login plus the encrypted business API of tuya-device-sharing-sdk."""

    def __init__(self, account: QrAccount, *, client_id: str = "HA_3y9q4ak7g4ephrvke",
                 schema: str = "haauthorize", confirm_after: int = 2,
                 expire_time: int = 7200) -> None:
        super().__init__()
        self.account = account
        self.client_id = client_id
        self.schema = schema
        self.confirm_after = confirm_after
        self.expire_time = expire_time
        self.qr_tokens: dict[str, int] = {}  # token -> polls so far
        self.access: dict[str, str] = {}  # access token -> refresh token
        self.refreshes = 0
        self.signatures_checked = 0
        self.bad_signatures = 0

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
               ) -> dict[str, Any]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query))
        now_ms = int(time.time() * 1000)
        login = "/v1.0/m/life/home-assistant/qrcode/tokens"
        if path.startswith(login):
            label = "qr_token" if path == login else "qr_poll"
            with self.lock:
                self.calls.append(label)
            injected = self.injected(label)
            if injected is not None:
                return _error(injected, _MESSAGES.get(injected, "injected"), now_ms)
            if query.get("clientid") != self.client_id:
                return _error("1005", "clientId invalid", now_ms)
            if query.get("usercode") != self.account.user_code:
                return _error("1106", "user code invalid", now_ms)
            if label == "qr_token":
                if method != "POST" or query.get("schema") != self.schema:
                    return _error("1109", "param is illegal", now_ms)
                token = "qr" + os.urandom(6).hex()
                self.qr_tokens[token] = 0
                return {"success": True, "result": {"qrcode": token}, "t": now_ms}
            token = path.rsplit("/", 1)[1]
            if token not in self.qr_tokens:
                return _error("1010", "token expired", now_ms)
            self.qr_tokens[token] += 1
            if self.qr_tokens[token] < self.confirm_after:
                return {"success": False, "code": 1002, "msg": "not confirmed", "t": now_ms}
            access, refresh = "at-" + os.urandom(6).hex(), "rt-" + os.urandom(6).hex()
            self.access[access] = refresh
            return {"success": True, "t": now_ms, "result": {
                "access_token": access, "refresh_token": refresh,
                "expire_time": self.expire_time, "uid": "eu16000", "terminal_id": "term-1",
                "endpoint": self.url, "username": self.account.username}}
        return self._business(method, path, query, headers, body, now_ms)

    def _business(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                  body: bytes, now_ms: int) -> dict[str, Any]:
        access = headers.get("x-token", "")
        rid = headers.get("x-requestid", "")
        refresh = self.access.get(access)
        label = "refresh" if path.startswith("/v1.0/m/token/") else (
            "specs" if path.endswith("/specifications") else path.rsplit("/", 1)[1])
        with self.lock:
            self.calls.append(label)
        if refresh is None or not rid:
            return _error("1010", "token invalid", now_ms)
        hash_key, key = _derive(rid, refresh)
        enc_query = query.get("encdata", "")
        enc_body = json.loads(body).get("encdata", "") if body else ""
        signed = "||".join(f"{name}={headers[name.lower()]}" for name in
                           ("X-appKey", "X-requestId", "X-sid", "X-time", "X-token")
                           if headers.get(name.lower()))
        expected = hmac.new(hash_key.encode(), (signed + enc_query + enc_body).encode(),
                            hashlib.sha256).hexdigest()
        if headers.get("x-appkey") != self.client_id or not hmac.compare_digest(
                headers.get("x-sign", ""), expected):
            self.bad_signatures += 1
            return _error("1004", "sign invalid", now_ms)
        self.signatures_checked += 1
        params = _decrypt_request(enc_query, key) if enc_query else {}
        injected = self.injected(label)
        if injected is not None:
            return _error(injected, _MESSAGES.get(injected, "injected"), now_ms)
        result: Any
        if label == "refresh":
            if path.rsplit("/", 1)[1] != refresh:
                return _error("1012", "refresh token invalid", now_ms)
            new_access, new_refresh = "at-" + os.urandom(6).hex(), "rt-" + os.urandom(6).hex()
            del self.access[access]
            self.access[new_access] = new_refresh
            self.refreshes += 1
            result = {"accessToken": new_access, "refreshToken": new_refresh,
                      "expireTime": 7200, "uid": "eu16000"}
        elif path == "/v1.0/m/life/users/homes":
            result = [{"ownerId": home, "name": f"Home {home}"} for home in self.account.homes]
        elif path == "/v1.0/m/life/ha/home/devices":
            devices = self.account.homes.get(str(params.get("homeId")), [])
            result = [d.cloud_entry() for d in devices]
        elif label == "specs":
            dev_id = path.split("/")[4]
            dev = next((d for h in self.account.homes.values() for d in h
                        if d.device_id == dev_id), None)
            if dev is None:
                return _error("1106", "permission deny", now_ms)
            if dev.status is None:
                return _error("2009", "not support this device", now_ms)
            result = {"category": dev.category, "functions": [], "status": dev.status}
        else:
            return _error("1108", "uri path invalid", now_ms)
        return {"success": True, "t": now_ms, "result": _encrypt_result(result, key)}


@contextmanager
def serving(fake: _FakeBase) -> Iterator[Any]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
