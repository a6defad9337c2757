"""Independent "oracle" implementations of the Tuya LAN protocol, for interop tests.

Test-only helpers. Nothing here is shipped with powermonitor and no code of the
oracle projects is copied: they are installed as test dependencies by
``scripts/install-test-deps.sh`` and only *called* from here.

Oracles
-------
* **tuyamock 0.0.6** (PyPI, installed ``--no-deps`` next to tinytuya 1.20.0): a
  device simulator. :func:`tuyamock_device` runs its in-process ``MockDevice``
  (a background thread) on ``127.0.0.1`` with an OS-assigned port.
* **tinytuya 1.20.0** (PyPI): a client. :func:`tinytuya_client`.
* **tuyapi 7.7.1** (npm, in ``tests/interop/node``): a client, driven through
  ``node tuyapi_client.js``. :func:`run_tuyapi`.
* **rustuya 0.3.x** (PyPI, Rust core): a client. :func:`rustuya_client`.

tuyamock builds its frames with tinytuya internals, so tuyamock and tinytuya are
not independent of each other; tuyapi and rustuya are.

Safety rules enforced here: every address must be a loopback address (no
``None``/``"Auto"``/``"0.0.0.0"`` which would make tinytuya/rustuya *scan* the
LAN), no discovery/scan/find call is ever made.

Missing oracles are never skipped: the helpers raise :class:`OracleMissingError`
telling you to run ``scripts/install-test-deps.sh``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DEVICE_ID",
    "DEFAULT_LOCAL_KEY",
    "EXPECTED_VERSIONS",
    "NODE_DIR",
    "TUYAPI_CLIENT_JS",
    "OracleMissingError",
    "TuyamockHandle",
    "extract_dps",
    "installed_versions",
    "require_tuyapi",
    "run_tuyapi",
    "rustuya_client",
    "tinytuya_client",
    "tuyamock_device",
]

INTEROP_DIR = Path(__file__).resolve().parent
NODE_DIR = INTEROP_DIR / "node"
TUYAPI_CLIENT_JS = NODE_DIR / "tuyapi_client.js"
REPO_ROOT = INTEROP_DIR.parent.parent
INSTALL_HINT = "run scripts/install-test-deps.sh from the repository root"

#: A realistic 20-character device id (tuyamock does not check the id in requests).
DEFAULT_DEVICE_ID = "bf3a4c5d6e7f80912a3b"
#: Any 16 ASCII characters work; tinytuya (>=3.2) and tuyapi reject other lengths.
DEFAULT_LOCAL_KEY = "0123456789abcdef"

#: Oracle versions these helpers were written and checked against.
EXPECTED_VERSIONS = {
    "tinytuya": "1.20.0",
    "tuyamock": "0.0.6",
    "tuyapi": "7.7.1",
    "rustuya": "0.3",  # prefix: any 0.3.x
}

_VERSION_RE = re.compile(r"^3\.[1-5]$")


class OracleMissingError(RuntimeError):
    """An oracle (Python package, node or node_modules) is not installed."""


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def _norm_version(version: str | float) -> str:
    """'3.4' / 3.4 -> '3.4'; anything but 3.1-3.5 is a ValueError."""
    text = f"{version:.1f}" if isinstance(version, float) else str(version).strip()
    if not _VERSION_RE.match(text):
        raise ValueError(f"protocol version must be one of 3.1..3.5, got {version!r}")
    return text


def _require_loopback(host: Any) -> str:
    """Refuse anything but a loopback address (also refuses None/'Auto'/'0.0.0.0')."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a loopback address string, got {host!r}")
    if host == "localhost":
        return host
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback IP address, got {host!r}") from None
    if not addr.is_loopback:
        raise ValueError(f"interop tests only talk to loopback, refusing {host!r}")
    return host


def _require_key(local_key: str) -> str:
    if not isinstance(local_key, str) or len(local_key.encode("latin1")) != 16:
        raise ValueError(f"local_key must be 16 characters, got {local_key!r}")
    return local_key


def extract_dps(reply: Any) -> dict[str, Any] | None:
    """The dps dict of a status/set reply in any of the shapes the oracles return.

    ``{"dps": {...}}`` (tinytuya, tuyapi on 3.4/3.5, real 3.1/3.3 devices) or
    ``{"data": {"dps": {...}}}`` (tuyamock's replies as returned raw by rustuya
    and by tuyapi on 3.1/3.3). ``None`` when there is none.
    """
    if not isinstance(reply, dict):
        return None
    dps = reply.get("dps")
    if not isinstance(dps, dict):
        data = reply.get("data")
        dps = data.get("dps") if isinstance(data, dict) else None
    return dps if isinstance(dps, dict) else None


def _import_or_fail(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError as exc:
        raise OracleMissingError(
            f"Python package {name!r} is not installed ({exc}); {INSTALL_HINT}"
        ) from exc


def installed_versions() -> dict[str, str]:
    """Versions of the installed oracles (raises OracleMissingError if one is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for dist in ("tinytuya", "tuyamock", "rustuya"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError as exc:
            raise OracleMissingError(f"{dist} is not installed; {INSTALL_HINT}") from exc
    pkg = NODE_DIR / "node_modules" / "tuyapi" / "package.json"
    if not pkg.is_file():
        raise OracleMissingError(f"{pkg} is missing (npm ci not run); {INSTALL_HINT}")
    out["tuyapi"] = json.loads(pkg.read_text(encoding="utf8"))["version"]
    return out


# --------------------------------------------------------------------------
# tuyamock: device simulator
# --------------------------------------------------------------------------


class TuyamockHandle:
    """A running tuyamock device, as yielded by :func:`tuyamock_device`.

    Attributes: ``host`` ('127.0.0.1'), ``port``, ``device_id``, ``local_key``,
    ``version`` ('3.x' string), ``dev22``, ``mock`` (the underlying
    ``tuyamock.MockDevice``). ``dps`` is a *copy* of the live device state
    (client sets mutate the live state).
    """

    host = "127.0.0.1"

    def __init__(self, mock: Any, device_id: str, local_key: str, version: str, dev22: bool):
        self.mock = mock
        self.device_id = device_id
        self.local_key = local_key
        self.version = version
        self.dev22 = dev22

    @property
    def port(self) -> int:
        return int(self.mock.port)

    @property
    def dps(self) -> dict[str, Any]:
        """Snapshot of the device's current dps."""
        return dict(self.mock.dps)

    @property
    def connections(self) -> int:
        """Number of TCP connections the device has accepted so far."""
        return int(self.mock.server.connections)

    @property
    def connected(self) -> bool:
        """Whether a client connection is currently open."""
        return bool(self.mock.connected)

    def set_state(self, dps: dict[str, Any]) -> None:
        """Change device dps without telling anybody (e.g. a new power reading)."""
        with self.mock.server._io_lock:  # the serve thread builds replies under this lock
            self.mock.dps.update({str(k): v for k, v in dps.items()})

    def push(self, dps: dict[str, Any] | None = None, update_state: bool = True) -> bool:
        """Send an unsolicited STATUS (cmd 8) frame to the connected client.

        ``dps=None`` reports the full state. With ``update_state`` (default) the
        given dps also become the device state first, like a real plug whose
        reading changed. Returns True if a frame was sent, False if no client is
        connected (or the 3.4/3.5 session handshake has not finished yet).
        """
        if dps is not None:
            dps = {str(k): v for k, v in dps.items()}
            if update_state:
                self.set_state(dps)
        return bool(self.mock.push(dps))

    def __repr__(self) -> str:
        return (
            f"TuyamockHandle(host={self.host!r}, port={self.port}, device_id={self.device_id!r}, "
            f"version={self.version!r}, dev22={self.dev22})"
        )


def _start_mock(mock: Any) -> None:
    """``MockDevice.start()`` minus a teardown race.

    tuyamock's serve thread registers its sockets with a selector only once it
    runs; a ``stop()`` right after ``start()`` closes them first and the thread
    dies with "Invalid file descriptor: -1" (an unhandled-thread-exception
    warning in pytest). Same as ``start()`` but that case is swallowed.
    """
    server = mock.server

    def serve() -> None:
        try:
            server.serve_forever()
        except (OSError, ValueError):
            if not server._closed:
                raise

    if not hasattr(mock, "_thread") or not hasattr(server, "_io_lock"):
        raise RuntimeError("tuyamock.MockDevice internals changed; update tests/interop/oracles.py")
    server.start()
    mock._thread = threading.Thread(target=serve, name="tuyamock", daemon=True)
    mock._thread.start()


@contextlib.contextmanager
def tuyamock_device(
    version: str,
    local_key: str,
    dps: dict[str, Any],
    device_id: str = DEFAULT_DEVICE_ID,
    dev22: bool = False,
    **mock_kwargs: Any,
) -> Iterator[TuyamockHandle]:
    """Run a tuyamock device on 127.0.0.1 (OS-assigned port) for the ``with`` block.

    ``version`` '3.1'..'3.5'; ``local_key`` 16 chars; ``dps`` initial state (keys
    are stringified); ``device_id`` becomes the mock's gwId (used only in its
    discovery payload, the mock does not check devId in requests); ``dev22``
    emulates a device22 (3.2-3.4 only: rejects DP_QUERY with
    "json obj data unvalid" and answers CONTROL-with-nulls polls with only the
    asked dps).

    Extra keyword arguments go to ``tuyamock.MockDevice``, e.g.
    ``seqno_mode="echo"`` (needed for tuyapi on 3.5), ``idle_timeout``,
    ``response_delay``, ``go_dark_after``, ``drop_after_dark``, ``outages``.
    ``host`` is always 127.0.0.1; ``discovery`` beacons may only go to loopback.
    """
    tuyamock = _import_or_fail("tuyamock")
    version = _norm_version(version)
    local_key = _require_key(local_key)
    if "host" in mock_kwargs or "port" in mock_kwargs:
        raise ValueError("host/port are fixed: 127.0.0.1 and an OS-assigned port")
    if mock_kwargs.get("discovery"):
        _require_loopback(mock_kwargs.get("discovery_addr", "127.0.0.1"))
    mock = tuyamock.MockDevice(
        local_key=local_key,
        version=version,
        dps={str(k): v for k, v in dps.items()},
        dev22=dev22,
        host="127.0.0.1",
        port=0,
        gw_id=device_id,
        **mock_kwargs,
    )
    _start_mock(mock)
    try:
        yield TuyamockHandle(mock, device_id, local_key, version, dev22)
    finally:
        mock.stop()
        # tuyamock 0.0.6 never closes its wake-up socketpair (ResourceWarning).
        for sock in (mock.server._wake_r, mock.server._wake_w):
            if sock is not None:
                sock.close()


# --------------------------------------------------------------------------
# tinytuya: Python client
# --------------------------------------------------------------------------


def tinytuya_client(
    device_id: str,
    host: str,
    port: int,
    local_key: str,
    version: str,
    *,
    persist: bool = False,
    socket_timeout: float = 5.0,
    retry_limit: int = 2,
) -> Any:
    """A ``tinytuya.OutletDevice`` configured for loopback tests.

    Explicit address (never None/'Auto', which would scan the LAN), explicit
    port, explicit float version, ``sendWait`` None (no 10 ms sleep after each
    send), retry delay 0, ``retry_limit`` connection attempts, ``socket_timeout``
    for connect and every recv. Non-persistent by default: one TCP connection
    (and on 3.4/3.5 one session-key handshake) per command.

    Usage::

        d = tinytuya_client(dev.device_id, dev.host, dev.port, dev.local_key, "3.4")
        st = d.status()              # {"dps": {"1": True, ...}, ...}
        assert "Error" not in st, st  # errors are returned, not raised:
                                      # {"Error": ..., "Err": "901"/"904"/"914", "Payload": ...}
        r = d.set_value("1", False)  # reply to CONTROL (or the following STATUS push)
        assert d.status()["dps"]["1"] is False
        d.close()                    # harmless when non-persistent

    Other calls: ``set_multiple_values({...})``, ``turn_on()/turn_off()``,
    ``heartbeat()``, ``updatedps([18, 19, 20])``, ``receive()`` (with persist=True).
    For a device22 device ``status()`` returns only the dps in
    ``d.dps_to_request`` (default just "1"): call ``d.add_dps_to_request([...])``.
    """
    tinytuya = _import_or_fail("tinytuya")
    _require_loopback(host)
    _require_key(local_key)
    d = tinytuya.OutletDevice(
        device_id,
        address=host,
        local_key=local_key,
        version=float(_norm_version(version)),
        port=int(port),
        persist=persist,
        connection_timeout=socket_timeout,
        connection_retry_limit=retry_limit,
        connection_retry_delay=0,
    )
    d.set_sendWait(None)
    d.set_socketRetryDelay(0)
    return d


# --------------------------------------------------------------------------
# rustuya: Rust client with Python bindings
# --------------------------------------------------------------------------


_RUSTUYA_SPACING = 0.15  # seconds; rustuya's jitter window is 100 ms
_rustuya_lock = threading.Lock()
_rustuya_last_construct = float("-inf")


def rustuya_client(
    device_id: str,
    host: str,
    port: int,
    local_key: str,
    version: str,
    *,
    timeout: float = 3.0,
    persist: bool = False,
) -> Any:
    """A ``rustuya.Device`` for loopback tests. Call ``.stop()`` when done.

    Address and version are always explicit (rustuya's defaults are "Auto",
    which means UDP discovery). Constructions are spaced >= 150 ms apart by this
    helper: rustuya delays the first connect of a Device built within 100 ms of
    the previous one by a random 0-5 s. After a failed connect a Device backs
    off >= 16 s before retrying: build a new one instead of reusing it.
    Replies are returned raw, e.g.
    ``{"data": {"dps": {...}}, "protocol": 4, "t": ...}`` from tuyamock; use
    :func:`extract_dps`. Errors are raised as exceptions.

    Usage::

        d = rustuya_client(dev.device_id, dev.host, dev.port, dev.local_key, "3.5")
        try:
            assert extract_dps(d.status())["1"] is True
            d.set_value("1", False)
            assert extract_dps(d.status())["1"] is False
        finally:
            d.stop()
    """
    global _rustuya_last_construct
    rustuya = _import_or_fail("rustuya")
    _require_loopback(host)
    _require_key(local_key)
    with _rustuya_lock:
        # rustuya sleeps a random 0-5 s before the first connect of a Device
        # constructed within 100 ms of the previous one (fleet thundering-herd
        # guard). Space constructions out so tests stay fast and deterministic.
        wait = _RUSTUYA_SPACING - (time.monotonic() - _rustuya_last_construct)
        if wait > 0:
            time.sleep(wait)
        try:
            return rustuya.Device(
                device_id,
                local_key,
                address=host,
                version=_norm_version(version),
                persist=persist,
                timeout=float(timeout),
                port=int(port),
            )
        finally:
            _rustuya_last_construct = time.monotonic()


# --------------------------------------------------------------------------
# tuyapi: Node client via tests/interop/node/tuyapi_client.js
# --------------------------------------------------------------------------


def require_tuyapi() -> str:
    """Path of the ``node`` binary; raises OracleMissingError if node or tuyapi is missing."""
    node = shutil.which("node")
    if node is None:
        raise OracleMissingError(f"'node' is not on PATH; {INSTALL_HINT}")
    if not (NODE_DIR / "node_modules" / "tuyapi" / "package.json").is_file():
        raise OracleMissingError(
            f"tuyapi is not installed in {NODE_DIR / 'node_modules'}; {INSTALL_HINT}"
        )
    if not TUYAPI_CLIENT_JS.is_file():
        raise OracleMissingError(f"{TUYAPI_CLIENT_JS} is missing")
    return node


def run_tuyapi(
    device_id: str,
    host: str,
    port: int,
    local_key: str,
    version: str,
    ops: Sequence[str | dict[str, Any]],
    wait_for_response: bool = True,
    timeout: float = 15,
) -> dict[str, Any]:
    """Run tuyapi 7.7.1 against ``host:port`` and return its JSON result line.

    ``ops`` (run in order on one connection, ``issueGetOnConnect: false``):
    ``"get"`` (``get({schema: true})``), ``"set:DP:JSON"`` (e.g. ``"set:1:false"``,
    ``"set:2:\\"white\\""``) using ``wait_for_response`` as ``shouldWaitForResponse``,
    ``"setw:DP:JSON"`` / ``"setnw:DP:JSON"`` (force wait / no-wait), or dicts
    ``{"op": "set", "dps": "1", "value": False, "wait": False}`` /
    ``{"op": "set", "data": {"1": False, "9": 0}}``.

    Returns ``{"ok": True, "results": [...], "events": [...], "errors": [...]}``
    where each result is ``{"op": "get"|"set", "dps": {...}|None, "raw": ...}``
    (set results also carry ``wait`` and ``request``; a no-wait set has
    ``raw``/``dps`` None), ``events`` every frame tuyapi emitted as
    ``{"type": "data"|"dp-refresh", "cmd": N, "seq": N, "payload": ...}``, and
    ``errors`` tuyapi's error events. On failure ``{"ok": False, "error": "...",
    ...partial...}`` (the node process exited non-zero; not raised, so tests
    can assert on it). The node process always ends within ``timeout`` seconds.

    Raises AssertionError (with stderr) if the script's output is not exactly
    one JSON object line, OracleMissingError if node/tuyapi is not installed.

    Trap: tuyapi's waiting ``set()`` resolves only on a STATUS (cmd 8) frame; a
    device that only answers CONTROL with cmd 7/13 (tuyamock) makes it fail
    after 5 s -> use ``wait_for_response=False`` against tuyamock. On 3.5 tuyapi
    matches replies by seqno: run tuyamock with ``seqno_mode="echo"``.
    """
    node = require_tuyapi()
    _require_loopback(host)
    _require_key(local_key)
    version = _norm_version(version)
    cmd = [
        node,
        str(TUYAPI_CLIENT_JS),
        "--id",
        device_id,
        "--key",
        local_key,
        "--host",
        host,
        "--port",
        str(int(port)),
        "--version",
        version,
        "--ops",
        json.dumps(list(ops)),
        "--wait" if wait_for_response else "--no-wait",
        "--timeout",
        str(float(timeout)),
    ]
    env = dict(os.environ)
    env.pop("DEBUG", None)  # DEBUG=TuyAPI would only add stderr noise
    try:
        proc = subprocess.run(
            cmd,
            cwd=NODE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=float(timeout) + 15,  # backstop; the script has its own hard deadline
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"tuyapi_client.js did not exit by itself within {timeout}s (+15 s); "
            f"stdout={exc.stdout!r} stderr={exc.stderr!r}"
        ) from exc
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise AssertionError(
            f"tuyapi_client.js must print exactly one JSON line, got {len(lines)} "
            f"(exit {proc.returncode}); stdout={proc.stdout!r} stderr={proc.stderr!r}"
        )
    try:
        result = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"tuyapi_client.js printed non-JSON ({exc}); stdout={proc.stdout!r} "
            f"stderr={proc.stderr!r}"
        ) from exc
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        # AssertionError on purpose: a harness failure, reported like any test failure.
        raise AssertionError(  # noqa: TRY004
            f"tuyapi_client.js printed {result!r}; stderr={proc.stderr!r}"
        )
    if result["ok"] != (proc.returncode == 0):
        raise AssertionError(
            f"tuyapi_client.js ok={result['ok']} but exit code {proc.returncode}; "
            f"stdout={proc.stdout!r} stderr={proc.stderr!r}"
        )
    if not result["ok"] and "usage:" in str(result.get("error", "")):
        raise AssertionError(f"tuyapi_client.js usage error: {result['error']}")
    if not result["ok"] and "not installed" in str(result.get("error", "")):
        raise OracleMissingError(str(result["error"]))
    result["exit_code"] = proc.returncode
    result["stderr"] = proc.stderr
    return result
