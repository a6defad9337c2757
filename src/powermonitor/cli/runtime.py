"""Running commands: one error boundary for the whole CLI, the event loop, signals, logging.

Errors: every command raises; :class:`ErrorBoundary` (the root command's class, as python-kasa's
catch-all group) turns a project error into one line on stderr and the exit code of its TYPE
(:func:`exit_code`, README "Exit codes"); ``--debug`` adds the traceback. Ctrl-C is exit 130.

Signals: a command must not depend on what its parent left behind (``nohup``, ``cmd &`` start
it with SIGINT ignored), so :func:`restore_default_signals` runs first; a long-running command
installs its SIGINT/SIGTERM handlers (:class:`StopSignal`) *before* it announces readiness
(banner, devices file), so a stop request that follows the announcement is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, Self, TypeVar

import click

from ..errors import EXIT_INTERRUPTED, PowermonitorError

T = TypeVar("T")
log = logging.getLogger("powermonitor")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(exc: BaseException) -> int:
    """The one mapping from an exception to the process exit code: by type, never by text."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, PowermonitorError):
        return exc.exit_code
    return 1


def debug_requested(ctx: click.Context | None = None) -> bool:
    """True when ``--debug`` (or ``POWERMONITOR_DEBUG``) was given to the root command."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return False
    return bool(ctx.find_root().params.get("debug"))


def fail(exc: BaseException, debug: bool = False) -> NoReturn:
    """Report ``exc`` as one line (a traceback too with ``--debug``) and exit with its code."""
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
    else:
        if debug:
            log.error("failed", exc_info=exc)
        click.echo(f"error: {exc}", err=True)
    sys.exit(exit_code(exc))


class ErrorBoundary(click.Command):
    """The root command's class: project errors and Ctrl-C end here, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PowermonitorError, KeyboardInterrupt) as exc:
            fail(exc, debug_requested(ctx))


class ErrorBoundaryGroup(ErrorBoundary, click.Group):
    """:class:`ErrorBoundary` for a group (``powermonitor``)."""


def restore_default_signals() -> None:
    """Ctrl-C raises KeyboardInterrupt even when the parent started us with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def setup_logging(debug: bool, verbose: int = 0) -> None:
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when available (faster sockets), else the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a default dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


class StopSignal:
    """SIGINT/SIGTERM as an event, installed at construction (inside the running loop).

    Create it before announcing readiness; ``await wait()`` blocks until a signal arrived
    (also one that arrived before ``wait``); ``close()`` restores the previous handling.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self.event.set)

    @property
    def received(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()

    def close(self) -> None:
        for sig in STOP_SIGNALS:
            self._loop.remove_signal_handler(sig)
        restore_default_signals()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def until_stopped(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` until it returns or SIGINT/SIGTERM arrives; on a signal cancel it and wait
    for its clean-up. Its own exceptions propagate; a stop by signal returns None.

    The handlers are installed before ``main`` starts, so whatever it announces, a signal
    sent after the announcement stops it cleanly."""
    with StopSignal() as stop_signal:
        task = asyncio.ensure_future(main)
        stop = asyncio.ensure_future(stop_signal.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                pending.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
    return None if task.cancelled() else task.result()

