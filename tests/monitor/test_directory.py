"""One plug lookup: every entry point (config, monitor, Service, web API, MQTT, CLI) finds the
same plug for the same words, because they all ask monitor/directory.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from powermonitor.cli.energy import _device_ids
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.errors import UnreachableError, UsageError
from powermonitor.monitor.directory import PlugDirectory, UnknownPlugError, resolve_id
from powermonitor.monitor.supervisor import Monitor
from powermonitor.service import Service, ServiceOptions, open_service
from powermonitor.web import create_app

FRIDGE, KETTLE = "bf0123456789abcdef01", "bf0123456789abcdef02"
CONFIG = Config(
    defaults=Defaults(poll_interval=5.0),
    plugs=(
        PlugConfig("Fridge", FRIDGE, "127.0.0.1", "0123456789abcdef", "3.4", port=1),
        PlugConfig("kettle", KETTLE, "127.0.0.1", "0123456789abcdef", "3.4", port=1),
    ),
)
# words → the device id every entry point must find (None: none may find one)
CASES: list[tuple[str, str | None]] = [
    (FRIDGE, FRIDGE),
    ("Fridge", FRIDGE),
    ("fridge", FRIDGE),  # the case that Service.set_switch used to refuse
    ("FRIDGE", FRIDGE),
    ("KETTLE", KETTLE),
    (KETTLE, KETTLE),
    (FRIDGE.upper(), None),  # ids are opaque: never matched ignoring case
    ("toaster", None),
    ("", None),
]


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    options = ServiceOptions(db=str(tmp_path / "pm.sqlite"), data_dir=tmp_path, listen=None)
    svc = await open_service(CONFIG, options)
    yield svc
    await svc.store.close()


def test_the_rule_exact_id_then_exact_name_then_name_ignoring_case() -> None:
    pairs = [("a1", "Lamp"), ("a2", "lamp"), ("Lamp", "other")]
    assert resolve_id("Lamp", pairs) == "Lamp"  # an id wins over a name
    assert resolve_id("lamp", pairs) == "a2"  # an exact name wins over a folded one
    assert resolve_id("LAMP", pairs) == "a1"  # then the first name equal ignoring case
    with pytest.raises(UnknownPlugError, match="no plug named 'x'") as caught:
        resolve_id("x", pairs)
    assert isinstance(caught.value, KeyError)
    directory = PlugDirectory({"a1": 1, "a2": 2}, {"a1": "Lamp"})
    assert directory.name_of("a2") == "a2" and directory.names() == {"a1": "Lamp", "a2": "a2"}
    assert directory.find("lamp") == 1 and len(directory) == 2 and "a1" in directory


@pytest.mark.parametrize("words,expected", CASES)
async def test_every_entry_point_finds_the_same_plug(
    service: Service, words: str, expected: str | None
) -> None:
    found: dict[str, str | None] = {}

    def attempt(where: str, lookup: object) -> None:
        try:
            found[where] = lookup() if callable(lookup) else None
        except (KeyError, UsageError):
            found[where] = None

    attempt("config", lambda: CONFIG.plug(words).device_id)
    attempt("monitor", lambda: Monitor(CONFIG).coordinator(words).plug.device_id)
    attempt("service (MQTT commands use it)", lambda: service.resolve(words))
    attempt("cli", lambda: (_device_ids(CONFIG, {}, [words]) or [""])[0] or None)

    # Service.set_switch: a plug it finds is offline here (not running); one it does not, unknown
    try:
        await service.set_switch(words, True)
    except UnreachableError:
        found["set_switch"] = service.resolve(words)
    except KeyError:
        found["set_switch"] = None

    app = create_app(service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get(f"/api/plugs/{words}") if words else None
    if response is None:
        found["web"] = None
    else:
        assert response.status_code in (200, 404), response.text
        found["web"] = response.json()["id"] if response.status_code == 200 else None

    assert found == dict.fromkeys(found, expected)
