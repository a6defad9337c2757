"""Log a limit being hit once per burst, not once per refused request (a flood must not
flood the log too), and say how many were refused when the burst ends."""

from __future__ import annotations

import logging


class Once:
    """``warn()`` logs the first time; repeats are counted until ``reset()`` (the limit is no
    longer hit), which logs the count of the repeats, if any."""

    def __init__(self, logger: logging.Logger, message: str) -> None:
        self._log = logger
        self._message = message
        self._repeats = 0
        self._active = False

    def warn(self, *args: object) -> None:
        if self._active:
            self._repeats += 1
            return
        self._active = True
        self._log.warning(self._message, *args)

    def reset(self) -> None:
        if self._active and self._repeats:
            self._log.warning("%s: %d more since", self._message.partition(":")[0], self._repeats)
        self._active = False
        self._repeats = 0
