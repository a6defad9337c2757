"""The service reads typed settings: the database, retention, the energy rule, the tariff and
the exporters all come from the loaded Config (no raw tables, no untyped extras)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from powermonitor.config import parse_config
from powermonitor.exporters.mqtt import MqttBridge
from powermonitor.service import ServiceOptions, open_service
from powermonitor.storage.sqlite import SqliteStore


def test_open_service_wires_every_section(tmp_path: Path) -> None:
    db = tmp_path / "pm.db"
    config = parse_config(textwrap.dedent(f"""\
        [[plugs]]
        name = "a"
        id = "id-a"
        host = "127.0.0.1"
        port = 9
        key = "0123456789abcdef"
        version = "3.3"
        [storage]
        db = "{db}"
        raw_days = 3
        hour_days = "forever"
        commit_interval = 2.5
        [energy]
        method = "left"
        max_gap = 120
        [tariff]
        currency = "CHF"
        timezone = "Europe/Zurich"
        price = 0.3
        [mqtt]
        url = "mqtt://user:pw@127.0.0.1:9"
        """), tmp_path / "c.toml", env={})

    async def main() -> None:
        service = await open_service(config, ServiceOptions(listen=None, data_dir=tmp_path))
        try:
            assert service.db == str(db)
            assert isinstance(service.store, SqliteStore)
            assert service.store.retention.raw_days == 3
            assert service.store.retention.hour_days is None
            assert service.writer.flush_interval == 2.5
            assert (service.recorder.method, service.recorder.max_gap_s) == ("left", 120.0)
            assert service.tariff.currency == "CHF" and service.tariff.timezone == "Europe/Zurich"
            assert [type(e) for e in service.exporters] == [MqttBridge]
            assert not hasattr(service, "extras") and not hasattr(config, "extra")
        finally:
            await service.store.close()

    asyncio.run(main())
    assert db.exists()
