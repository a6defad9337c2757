"""How often a plug's MQTT state goes out: at most once per ``[mqtt] state_interval`` seconds.

Home Assistant records every state change of every entity, so five sensors per plug polled
every second bloat its database (and its history graphs gain nothing a 5 s step does not
show); Tasmota (TelePeriod, PowerDelta) and Shelly rate-limit their MQTT telemetry for the
same reason. The rule, per plug:

* its state goes out at once when the last one went out ``interval`` or more ago (or never,
  or before the latest (re)connect published everything);
* otherwise it waits; once the interval has passed the *newest* reading goes out (the bridge
  reads the state from the Hub when it publishes, so nothing newer is ever lost);
* a change of a switch (any outlet), of the plug's availability, or a switch command goes
  out at once, whatever the interval (:meth:`StateGate.release`, and the switch comparison).

``interval = 0`` lets every reading through. Pure bookkeeping with an injected clock (the
bridge passes a monotonic one, tests a fake one); one entry per plug, so memory is bounded by
the fleet, and the cost per reading is a few dict operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["StateGate"]


class StateGate:
    """Which plugs' states go out now; the others wait for their interval."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.clock = clock
        self._quiet: dict[str, float] = {}  # plug → when its state went out, oldest first
        self._waiting: set[str] = set()  # plugs in _quiet with a newer state not out yet
        self._switches: dict[str, object] = {}  # plug → the switch states that went out

    @property
    def waiting(self) -> int:
        """Plugs whose newest state waits for its interval."""
        return len(self._waiting)

    def due(self, changed: Iterable[str], switches: Callable[[str], object]) -> list[str]:
        """The plugs whose state goes out now, recorded as sent: those of ``changed`` (plugs
        with a new reading) that are free or whose switches changed, and the waiting ones
        whose interval has passed. ``switches(id)`` is the plug's switch states now."""
        if self.interval <= 0:
            return list(changed)
        now = self.clock()
        quiet, waiting, sent_switches = self._quiet, self._waiting, self._switches
        out: dict[str, None] = {}
        horizon = now - self.interval
        while quiet:  # free the plugs whose interval has passed, oldest first
            device_id = next(iter(quiet))
            if quiet[device_id] > horizon:
                break
            del quiet[device_id]
            if device_id in waiting:
                waiting.discard(device_id)
                out[device_id] = None
        for device_id in changed:
            if device_id in quiet and switches(device_id) == sent_switches.get(device_id):
                waiting.add(device_id)
            else:
                out[device_id] = None
        for device_id in out:
            quiet.pop(device_id, None)  # to the end: the order stays oldest first
            quiet[device_id] = now
            sent_switches[device_id] = switches(device_id)
            waiting.discard(device_id)
        return list(out)

    def wake_in(self) -> float | None:
        """Seconds until the oldest quiet plug is free, when some plug waits (else None)."""
        if not self._waiting or self.interval <= 0:
            return None
        oldest = self._quiet[next(iter(self._quiet))]
        return max(0.0, oldest + self.interval - self.clock())

    def release(self, device_id: str) -> bool:
        """The plug's next state goes out at once (its availability changed, a command). True
        when a state was waiting: the caller publishes it now (an offline plug sends no newer
        reading to carry it)."""
        self._quiet.pop(device_id, None)
        if device_id in self._waiting:
            self._waiting.discard(device_id)
            return True
        return False

    def reset(self, sent: Iterable[str], switches: Callable[[str], object]) -> None:
        """Every plug's state just went out (a (re)connect): the intervals start now."""
        if self.interval <= 0:
            return
        now = self.clock()
        self._waiting.clear()
        self._quiet = {device_id: now for device_id in sent}
        self._switches = {device_id: switches(device_id) for device_id in self._quiet}
