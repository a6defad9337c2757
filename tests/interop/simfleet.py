"""Run powermonitor's simulator in a background thread, for *synchronous* peer clients.

tinytuya, rustuya and the tuyapi subprocess block the calling thread, while our simulator
(``powermonitor.simulator.server``) lives in an asyncio loop. :func:`sim_fleet` starts a
:class:`~powermonitor.simulator.server.Fleet` in its own event loop on a daemon thread and
stops it cleanly (every server closed, the loop closed, the thread joined) when the ``with``
block ends.

The simulator's objects belong to that loop: never touch a ``SimulatedPlug`` from the test
thread directly (``dps()`` even mutates its energy window). Read them with
:meth:`SimFleetHandle.call` / :meth:`SimFleetHandle.state`, which run in the loop thread.

Everything listens on 127.0.0.1 with OS-assigned ports; nothing here sends a packet
anywhere else, and no discovery is involved.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from powermonitor.simulator.server import Faults, Fleet, PlugServer, fleet_specs

__all__ = ["PlugState", "SimFleetHandle", "sim_fleet", "sim_server"]

T = TypeVar("T")

#: How long setup/teardown and each cross-thread call may take before we call it a hang.
CALL_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class PlugState:
    """A consistent snapshot of one simulated plug, taken in the simulator's thread."""

    device_id: str
    version: str
    layout: str
    switches: dict[int, bool]
    dps: dict[str, Any]
    connections_total: int
    active_connections: int
    max_concurrent: int
    rejected_connections: int
    queries: int
    controls: int
    refreshes: int
    heartbeats: int


class SimFleetHandle:
    """A running simulator; ``servers[i]`` is plug *i* (``.host``, ``.port``, ``.plug``...)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, servers: Sequence[PlugServer]) -> None:
        self.loop = loop
        self.servers: list[PlugServer] = list(servers)

    # ------------------------------------------------------------ cross-thread calls

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the simulator's loop thread and return its result."""
        if threading.current_thread() is getattr(self.loop, "_sim_thread", None):
            return fn(*args)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout=CALL_TIMEOUT)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the simulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=CALL_TIMEOUT)

    # ------------------------------------------------------------ plug state

    def entry(self, index: int = 0) -> dict[str, Any]:
        """The devices-file entry of plug ``index``: id, key, ip, port, version, layout..."""
        return self.call(self.servers[index].device_entry)

    def state(self, index: int = 0) -> PlugState:
        """Switches, current dps and counters of plug ``index`` (read in the loop thread)."""
        server = self.servers[index]

        def snap() -> PlugState:
            plug = server.plug
            return PlugState(
                device_id=plug.device_id,
                version=plug.spec.version,
                layout=plug.spec.layout,
                switches=dict(plug.switches),
                dps=plug.dps(),
                connections_total=plug.connections_total,
                active_connections=plug.active_connections,
                max_concurrent=plug.max_concurrent,
                rejected_connections=plug.rejected_connections,
                queries=plug.queries,
                controls=plug.controls,
                refreshes=plug.refreshes,
                heartbeats=plug.heartbeats,
            )

        return self.call(snap)

    def set_switch(self, index: int, dp: int, on: bool) -> None:
        """Flip an outlet on the device side (as if someone pressed the button)."""
        self.call(self.servers[index].plug.switches.__setitem__, dp, on)

    def wait_idle(self, index: int = 0, timeout: float = 5.0) -> PlugState:
        """Wait until plug ``index`` has no client connection left (e.g. after a peer closed).

        Polls with a short sleep; returns the state. A correctness guard, not a timing check.
        """
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(index)
            if st.active_connections == 0 or time.monotonic() > deadline:
                return st
            time.sleep(0.01)


def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=serve, name="powermonitor-sim", daemon=True)
    loop._sim_thread = thread  # type: ignore[attr-defined]  # lets call() run inline there
    thread.start()
    if not ready.wait(CALL_TIMEOUT):
        raise RuntimeError("simulator loop thread did not start")
    return loop, thread


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    async def drain() -> None:
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()

    try:
        asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout=CALL_TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a hang in the simulator
            raise RuntimeError("simulator loop thread did not stop")
        loop.close()


@contextlib.contextmanager
def sim_fleet(
    count: int = 1,
    versions: Sequence[str] = ("3.3",),
    layouts: Sequence[str] = ("cz",),
    profiles: Sequence[str] = ("constant:100",),
    *,
    seed: int = 0,
    device22: Collection[int] = (),
    idle_timeout: float = 30.0,
    push_interval: float = 0.0,
    faults: dict[int, Faults] | None = None,
) -> Iterator[SimFleetHandle]:
    """A :class:`Fleet` of ``count`` plugs on 127.0.0.1 served from a background thread.

    Arguments are those of ``fleet_specs`` and ``Fleet``; ``device22`` lists the (0-based)
    plugs that reject DP_QUERY like device22 firmware (every 3.2 plug does anyway).
    Yields a :class:`SimFleetHandle`.
    """
    specs = [
        dataclasses.replace(spec, device22=True) if i in device22 else spec
        for i, spec in enumerate(fleet_specs(count, versions, layouts, profiles, seed=seed))
    ]
    fleet = Fleet(
        specs,
        host="127.0.0.1",
        faults=dict(faults or {}),
        idle_timeout=idle_timeout,
        push_interval=push_interval,
    )
    loop, thread = _start_loop()
    try:
        asyncio.run_coroutine_threadsafe(fleet.start(), loop).result(timeout=CALL_TIMEOUT)
        yield SimFleetHandle(loop, fleet.servers)
    finally:
        try:
            asyncio.run_coroutine_threadsafe(fleet.stop(), loop).result(timeout=CALL_TIMEOUT)
        finally:
            _stop_loop(loop, thread)


@contextlib.contextmanager
def sim_server(
    make_server: Callable[[], PlugServer],
) -> Iterator[SimFleetHandle]:
    """Serve one hand-built :class:`PlugServer` (custom faults, ``max_connections``...).

    ``make_server`` is called in the loop thread (a ``SimulatedPlug`` may capture the loop's
    clock), e.g. ``lambda: PlugServer(SimulatedPlug(spec), "127.0.0.1", 0, max_connections=8)``.
    """
    loop, thread = _start_loop()
    server: PlugServer | None = None
    try:

        async def start() -> PlugServer:
            srv = make_server()
            await srv.start()
            return srv

        server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=CALL_TIMEOUT)
        yield SimFleetHandle(loop, [server])
    finally:
        try:
            if server is not None:
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=CALL_TIMEOUT)
        finally:
            _stop_loop(loop, thread)
