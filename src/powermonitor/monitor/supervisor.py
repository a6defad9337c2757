"""The Monitor: one coordinator per configured plug, all in one asyncio loop, one Hub."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..client.reconnect import Backoff
from ..config import Config
from ..models import Reading
from .coordinator import PlugCoordinator
from .directory import PlugDirectory
from .hub import Hub

log = logging.getLogger(__name__)


class Monitor:
    """Watches every plug of a configuration and publishes to ``hub``."""

    def __init__(
        self,
        config: Config,
        hub: Hub | None = None,
        *,
        start_spread: float = 1.0,
        backoff_factory: Any = Backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        config.require_plugs()
        self.config = config
        self.hub = hub or Hub()
        self.coordinators: dict[str, PlugCoordinator] = {}
        for plug in config.plugs:
            self.coordinators[plug.device_id] = PlugCoordinator(
                plug, self.hub, config.defaults, backoff=backoff_factory(),
                start_spread=start_spread, clock=clock,
            )
        self.directory = PlugDirectory(
            self.coordinators, {d: c.name for d, c in self.coordinators.items()}
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Run every coordinator until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._tasks = [
                group.create_task(c.run(), name=f"plug:{c.name}") for c in self.coordinators.values()
            ]

    def coordinator(self, name_or_id: str) -> PlugCoordinator:
        """The plug's coordinator by id or name (the directory's rule; ``UnknownPlugError``)."""
        return self.directory.find(name_or_id)

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading:
        """Switch an outlet through the plug's coordinator (its single connection)."""
        return await self.coordinator(name_or_id).control({str(outlet): bool(on)})
