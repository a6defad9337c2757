"""What the web layer needs from the running service, and nothing more.

:class:`WebService` is the slice of :class:`powermonitor.service.Service` the app uses (the
exporters have their own ``ServiceLike``): the Hub for live state, the store for history and
energy, the recorder's running totals, the tariff, the configured plugs, switching and the
token. The web layer never reaches into the monitor or its coordinators.

:class:`PlugDirectory` is the one place the web layer finds a plug by name or id (until the
monitor's own directory replaces it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..config import Config
from ..models import Reading
from ..monitor.hub import Hub
from ..recorder import Totals
from ..storage.base import Store
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
    def token(self) -> str: ...

    @property
    def started_at(self) -> float: ...

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


class PlugDirectory:
    """The configured plugs by id, and the lookup by id or name: the id, else the exact name,
    else the name in any case."""

    def __init__(self, config: Config) -> None:
        self._plugs = {
            p.device_id: PlugEntry(p.device_id, p.name or p.device_id, p.host, p.port,
                                   p.version, config.interval_for(p))
            for p in config.plugs
        }
        self.names: dict[str, str] = {i: e.name for i, e in self._plugs.items()}

    def __iter__(self) -> Iterator[PlugEntry]:
        return iter(self._plugs.values())

    def __len__(self) -> int:
        return len(self._plugs)

    def get(self, device_id: str) -> PlugEntry | None:
        return self._plugs.get(device_id)

    def name_of(self, device_id: str) -> str:
        entry = self._plugs.get(device_id)
        return entry.name if entry is not None else device_id

    def find(self, name_or_id: str) -> PlugEntry | None:
        if name_or_id in self._plugs:
            return self._plugs[name_or_id]
        folded = name_or_id.casefold()
        for exact in (True, False):
            for entry in self._plugs.values():
                if (entry.name == name_or_id) if exact else (entry.name.casefold() == folded):
                    return entry
        return None
