"""Running async commands from click: event loop choice, signals, and error-to-exit-code mapping.

Errors become one line on stderr and a stable exit code (README "Exit codes"); a traceback is
shown only with ``--debug``. Ctrl-C stops at once with exit code 130.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from ..errors import EXIT_INTERRUPTED, PowermonitorError

T = TypeVar("T")
log = logging.getLogger("powermonitor")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when available (faster sockets), else the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a default dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


def fail(exc: PowermonitorError, debug: bool = False) -> NoReturn:
    if debug:
        log.exception("failed")
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def guarded(fn: Callable[[], T], debug: bool = False) -> T:
    """Call ``fn``; map our errors and Ctrl-C to messages and exit codes."""
    try:
        return fn()
    except PowermonitorError as exc:
        fail(exc, debug)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


async def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM: long-running commands then shut down cleanly (exit 0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def until_stopped(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` until it returns or SIGINT/SIGTERM arrives; on a signal cancel it and wait
    for its clean-up. Its own exceptions propagate; a stop by signal returns None."""
    task = asyncio.ensure_future(main)
    stop = asyncio.ensure_future(wait_for_stop_signal())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stop):
            pending.cancel()
        await asyncio.gather(task, stop, return_exceptions=True)
    return None if task.cancelled() else task.result()


def setup_logging(debug: bool, verbose: int = 0) -> None:
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


async def gather_cancel(*aws: Awaitable[Any]) -> None:
    """Await all; if one fails, cancel the rest (structured shutdown)."""
    async with asyncio.TaskGroup() as tg:
        for aw in aws:
            tg.create_task(aw)  # type: ignore[arg-type]
