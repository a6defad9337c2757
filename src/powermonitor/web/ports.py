"""What the web layer needs from the running service, and nothing more.

:class:`WebService` is the slice of :class:`powermonitor.service.Service` the app uses (the
exporters have their own ``ServiceLike``): the Hub for live state, the store for history and
energy, the recorder's running totals, the store writer's state (for health), the tariff, the
configured plugs, switching and the token. The web layer never reaches into the monitor or its
coordinators: it finds plugs in a :func:`plug_directory` of the configuration, by the monitor's
one lookup rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..config import Config
from ..models import Reading
from ..monitor.directory import PlugDirectory
from ..monitor.hub import Hub
from ..recorder import Totals
from ..storage.base import Store
from ..storage.writer import RecordingState
from ..tariff import Tariff


class TotalsSource(Protocol):
    def totals(self) -> Mapping[str, Totals]: ...


class WebService(Protocol):
    """The slice of the service the web app uses."""

    @property
    def hub(self) -> Hub: ...

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def recorder(self) -> TotalsSource: ...

    @property
    def tariff(self) -> Tariff: ...

    @property
    def writer(self) -> RecordingState: ...

    @property
    def token(self) -> str: ...

    @property
    def started_at(self) -> float: ...

    def names(self) -> Mapping[str, str]: ...

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading: ...


@dataclass(frozen=True, slots=True)
class PlugEntry:
    """A configured plug as the web layer shows it (no local key here)."""

    device_id: str
    name: str
    host: str
    port: int
    version: str
    interval_s: float


def plug_directory(config: Config) -> PlugDirectory[PlugEntry]:
    """The configured plugs, found by the one lookup rule (:mod:`~powermonitor.monitor.directory`)."""
    entries = {p.device_id: PlugEntry(p.device_id, p.name or p.device_id, p.host, p.port,
                                      p.version, config.interval_for(p)) for p in config.plugs}
    return PlugDirectory(entries, {i: e.name for i, e in entries.items()})
