"""Reach a plug through a running ``powermonitor run`` instead of fighting it for the plug.

Plugs take one client at a time: while ``run`` holds a plug's connection, a direct ``poll`` or
``switch`` would be refused (busy, exit 8). So ``run`` leaves a small record in the user's data
directory beside its token file (``service.json``, 0600: its pid, its API URL, where its token
file is, which plugs it watches), and ``poll``/``switch`` go through its HTTP API when that
record names a live process watching the plug. They find the directory the way ``run`` chose it:
from ``--db``/``POWERMONITOR_DB``/``[storage] db`` in the same config. The token is read from the token file at the time of use; it is
never copied into the record, printed or logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import httpx

from ..config import Config
from ..errors import (
    DeviceTimeoutError,
    KeyOrVersionError,
    PlugBusyError,
    PowermonitorError,
    ProtocolError,
    UnreachableError,
)
from ..models import Reading
from ..service import db_from

__all__ = ["ServiceLink", "find_service", "remove_record", "service_dir", "write_record"]

RECORD_FILE: Final = "service.json"
_MAX_RECORD_BYTES: Final = 4 * 1024 * 1024
_TIMEOUT_S: Final = 15.0
# The offline ``kind`` the service reports → the error ``poll`` raises (and so its exit code).
_KIND_ERRORS: Final[dict[str, type[PowermonitorError]]] = {
    "busy": PlugBusyError, "key": KeyOrVersionError, "timeout": DeviceTimeoutError,
    "protocol": ProtocolError,
}


def service_dir(config: Config, db: str | None) -> Path:
    """The directory a ``run`` with this config and ``--db`` keeps its token and record in."""
    from .run import token_dir  # run imports this module

    return token_dir(db_from(config, db))


def write_record(directory: Path, url: str, token_file: Path, plugs: Iterable[str]) -> Path:
    """Called by ``run`` once it serves: the record ``poll``/``switch`` look for (0600)."""
    path = directory / RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"pid": os.getpid(), "url": url, "token_file": str(token_file), "plugs": list(plugs)}
    tmp = path.with_name(f"{RECORD_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
    return path


def remove_record(directory: Path) -> None:
    """Called by ``run`` when it stops: remove the record if it is still ours."""
    path = directory / RECORD_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class ServiceLink:
    """A running service that watches the plug: its API and the file holding its token."""

    url: str
    token_file: Path

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except OSError as exc:
            raise UnreachableError(f"cannot read the running service's token file "
                                   f"{self.token_file}: {exc.strerror or exc}") from None


def find_service(directory: Path, device_id: str) -> ServiceLink | None:
    """The running service watching ``device_id``, or None (then talk to the plug directly)."""
    try:
        raw = (directory / RECORD_FILE).read_bytes()[:_MAX_RECORD_BYTES]
        data = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, url, token_file, plugs = (data.get(k) for k in ("pid", "url", "token_file", "plugs"))
    if not (isinstance(pid, int) and isinstance(url, str) and isinstance(token_file, str)
            and isinstance(plugs, list)):
        return None
    if pid == os.getpid() or not _alive(pid) or device_id not in plugs:
        return None
    return ServiceLink(url.rstrip("/"), Path(token_file))


def _reading(device_id: str, protocol: str, data: object) -> Reading:
    try:
        return _parse_reading(device_id, protocol, data)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise UnreachableError("the running service sent a reading this poll cannot read") \
            from None


def _parse_reading(device_id: str, protocol: str, data: Any) -> Reading:
    def number(key: str) -> float | None:
        value = data.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None

    raw_switches, switch, raw_notes = data.get("switches"), data.get("switch"), data.get("notes")
    switches: dict[Any, Any] = raw_switches if isinstance(raw_switches, dict) else {}
    notes: list[Any] = raw_notes if isinstance(raw_notes, list) else []
    return Reading(
        device_id=device_id,
        timestamp=datetime.fromisoformat(str(data.get("timestamp"))),
        switch=switch if isinstance(switch, bool) else None,
        switches={str(k): v for k, v in switches.items() if isinstance(v, bool)},
        power_w=number("power_w"), voltage_v=number("voltage_v"), current_a=number("current_a"),
        apparent_power_va=number("apparent_power_va"), power_factor=number("power_factor"),
        protocol=protocol, source=str(data.get("source", "")),
        notes=tuple(str(n) for n in notes),
    )


def _fail(response: httpx.Response, what: str) -> PowermonitorError:
    try:
        detail = str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return UnreachableError(f"the running service could not {what} ({response.status_code}): "
                            f"{detail}")


async def poll_via(link: ServiceLink, device_id: str) -> Reading:
    """The plug's latest reading as the running service has it (raises like a direct poll)."""
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT_S) as client:
            response = await client.get(f"{link.url}/api/plugs/{device_id}")
    except httpx.HTTPError as exc:
        raise UnreachableError(f"the running service at {link.url} did not answer: {exc}") \
            from None
    if response.status_code != 200:
        raise _fail(response, "read the plug")
    plug = response.json()
    reading = plug.get("reading")
    if not plug.get("online") or not isinstance(reading, dict):
        error = _KIND_ERRORS.get(str(plug.get("kind")), UnreachableError)
        raise error(f"the running service reports {plug.get('name', device_id)} offline: "
                    f"{plug.get('reason') or 'not read yet'}")
    return _reading(device_id, str(plug.get("protocol", "")), reading)


async def switch_via(link: ServiceLink, device_id: str, on: bool, outlet: int) -> Reading:
    """Switch through the running service (the plug's own connection); the new reading."""
    headers = {"Authorization": f"Bearer {link.token()}"}
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT_S) as client:
            response = await client.post(f"{link.url}/api/plugs/{device_id}/switch",
                                          json={"on": on, "outlet": outlet}, headers=headers)
            if response.status_code != 200:
                raise _fail(response, "switch the plug")
            plug = await client.get(f"{link.url}/api/plugs/{device_id}")
    except httpx.HTTPError as exc:
        raise UnreachableError(f"the running service at {link.url} did not answer: {exc}") \
            from None
    try:
        protocol = str(plug.json().get("protocol", "")) if plug.status_code == 200 else ""
        reading = response.json()["reading"]
    except (ValueError, TypeError, AttributeError, KeyError):
        raise UnreachableError("the running service sent an answer this switch cannot read") \
            from None
    return _reading(device_id, protocol, reading)
