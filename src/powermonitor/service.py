"""Composition at the edge: build the running service (monitor, store, recorder, web,
exporters) from the configuration, in one asyncio loop. Nothing below reads globals.

Every consumer gets what it needs from this object: the Hub (live readings, latest state),
the Store (history, energy by period), the Recorder (running kWh and cost totals), the Monitor
(switching a plug over its existing connection) and the tariff (currency).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alerts.service import AlertService
from .config import Config
from .errors import PowermonitorError
from .exporters import Exporter, build_exporters
from .models import Reading, redact_url
from .monitor.hub import Hub
from .monitor.supervisor import Monitor
from .recorder import Recorder
from .storage import default_db_path, open_store
from .storage.base import Store
from .storage.writer import StoreWriter
from .tariff import Tariff

log = logging.getLogger(__name__)


@dataclass
class Service:
    config: Config
    hub: Hub
    monitor: Monitor
    store: Store
    writer: StoreWriter
    recorder: Recorder
    tariff: Tariff
    token: str = field(repr=False, default="")
    started_at: float = field(default_factory=time.time)
    db: str = ""
    """Where readings are stored, password redacted (for messages)."""
    exporters: list[Exporter] = field(default_factory=list)
    alerts: AlertService | None = None
    """Alert rules and cycle recording (None without [[alerts]])."""

    def names(self) -> dict[str, str]:
        """device id → display name, for every configured plug."""
        return self.monitor.directory.names()

    def resolve(self, name_or_id: str) -> str:
        """A configured plug's device id from its id or name (``UnknownPlugError``, a KeyError)."""
        return self.monitor.directory.id_of(name_or_id)

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading:
        """Switch an outlet through the plug's own connection (KeyError for an unknown plug)."""
        return await self.monitor.set_switch(name_or_id, on, outlet)


TOKEN_FILE = "api-token"


def load_or_create_token(directory: Path) -> str:
    """The API token that switching a plug requires: made on first run, kept 0600."""
    path = directory / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """How to run: where the database is, where to serve, which optional parts to start."""

    db: str | None = None
    listen: tuple[str, int] | None = ("127.0.0.1", 8000)
    metrics_listen: tuple[str, int] | None = None
    data_dir: Path | None = None
    purge_interval_s: float = 3600.0
    start_spread: float = 1.0


def tariff_from(config: Config) -> Tariff:
    """``[tariff]``, or no prices (cost 0, days in the host's time zone)."""
    return config.tariff if config.tariff is not None else Tariff(flat_price=0.0)


def db_from(config: Config, explicit: str | None) -> str:
    """``--db``, else ``[storage] db`` (or ``$POWERMONITOR_DB``, applied by the config), else
    the data-dir default."""
    return explicit or config.storage.db or str(default_db_path())


async def open_service(config: Config, options: ServiceOptions) -> Service:
    """Open the store, resume the energy counters and wire monitor → Hub → recorder → writer."""
    hub = Hub()
    monitor = Monitor(config, hub, start_spread=options.start_spread)  # refuses an empty config
    tariff = tariff_from(config)
    db = db_from(config, options.db)
    store = open_store(db, timezone=tariff.timezone, retention=config.storage.retention)
    await store.open()
    try:
        counters = await store.counters()
    except BaseException:
        await store.close()
        raise
    writer = StoreWriter(store, flush_interval=config.storage.commit_interval)
    names = monitor.directory.names()
    recorder = Recorder(
        hub, writer, tariff, counters=counters, names=names,
        poll_intervals={p.device_id: config.interval_for(p) for p in config.plugs},
        method=config.energy.method, max_gap_s=config.energy.max_gap_s,
    )
    data_dir = options.data_dir or default_db_path().parent
    service = Service(config, hub, monitor, store, writer, recorder, tariff,
                      token=load_or_create_token(data_dir), db=redact_url(db))
    service.exporters = build_exporters(service, config, metrics_listen=options.metrics_listen)
    if config.alerts.rules:
        service.alerts = AlertService(hub, store, config.alerts, tariff, names,
                                      mqtt_settings=config.mqtt)
    return service


async def run_service(service: Service, options: ServiceOptions, started: Any = None) -> None:
    """Run every part until cancelled, then stop polling, account and flush, and close."""
    service.writer.start()
    background: list[asyncio.Task[Any]] = []

    def spawn(coro: Any, name: str) -> None:
        background.append(asyncio.create_task(coro, name=name))

    recorder_task = asyncio.create_task(service.recorder.run(), name="recorder")
    for name, coro in _optional_parts(service, options):
        spawn(coro, name)  # before the monitor: exporters subscribe to the Hub when they start
    spawn(service.monitor.run(), "monitor")
    spawn(_purge_loop(service.store, options.purge_interval_s), "purge")
    if started is not None:
        started(service)
    try:
        done, _ = await asyncio.wait(background, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        recorder_task.cancel()  # accounts what is still queued, then returns
        await asyncio.gather(recorder_task, return_exceptions=True)
        await service.writer.stop()
        await service.store.close()


def _optional_parts(service: Service, options: ServiceOptions) -> list[tuple[str, Any]]:
    """The web server and the exporters the configuration enables."""
    parts: list[tuple[str, Any]] = [
        (f"exporter:{e.name}", e.run()) for e in service.exporters
    ]
    if service.alerts is not None:
        parts.append(("alerts", service.alerts.run()))
    if options.listen is not None:
        from .exporters.prometheus import metrics_asgi_app
        from .web.app import create_app, serve

        app = create_app(service, allowed_hosts=service.config.web.allowed_hosts)
        if service.config.prometheus.web:
            metrics: Any = metrics_asgi_app(service)  # an ASGI app, which Route accepts too
            app.add_route("/metrics", metrics, include_in_schema=False)
        host, port = options.listen
        parts.append(("web", serve(app, host, port)))
    return parts


async def _purge_loop(store: Store, interval: float) -> None:
    while True:
        try:
            removed = await store.purge(time.time())
            if removed:
                log.info("retention: removed %d old rows", removed)
        except PowermonitorError as exc:
            log.warning("retention purge failed: %s", exc)
        await asyncio.sleep(interval)
