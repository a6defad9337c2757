"""The state of one simulated plug: identity, outlets, load, metering. No sockets here.

The network side (``server.py``) asks it for data points and hands it control requests; the
values come from a load profile and the mains model, so a simulated fridge cycles and a
switched-off plug draws nothing, exactly as the monitor should see it.
"""

from __future__ import annotations

import hashlib
import math
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import mask_key
from .electrical import Mains
from .latency import Latency
from .layouts import AddEleWindow, encode_dps, get_layout, switch_dps
from .profiles import LoadProfile, make_profile


@dataclass(frozen=True, slots=True)
class PlugSpec:
    """What a simulated plug is: how clients reach it and what it measures."""

    device_id: str
    local_key: str = field(repr=False)
    version: str = "3.3"
    layout: str = "cz"
    profile: str = "constant:100"
    name: str = ""
    device22: bool = False
    nominal_v: float = 230.0
    seed: int = 0
    raw_dps: tuple[tuple[str, Any], ...] | None = None
    """Serve exactly these raw dps (``simulate --spec``); boolean DPs are the switches."""
    product_key: str = ""
    """What the plug's broadcasts say as ``productKey`` (empty: one made from the id)."""
    latency: Latency | None = None
    """How long it takes to answer (``"latency"`` in a spec); None: the server's default."""

    def __post_init__(self) -> None:
        get_layout(self.layout)  # validates

    @property
    def masked_key(self) -> str:
        return mask_key(self.local_key)


def make_identity(index: int, seed: int = 0) -> tuple[str, str]:
    """A deterministic (device id, local key) pair: 20-char id, 16-char key."""
    digest = hashlib.sha256(f"powermonitor-sim:{seed}:{index}".encode()).hexdigest()
    device_id = "bf" + digest[:18]
    rng = random.Random(f"key:{seed}:{index}")
    key = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
    return device_id, key


class SimulatedPlug:
    """One plug's behaviour over time. ``clock`` returns Unix seconds (patchable in tests)."""

    def __init__(
        self,
        spec: PlugSpec,
        *,
        clock: Callable[[], float] = time.time,
        epoch: float | None = None,
        time_scale: float = 1.0,
        mains: Mains | None = None,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self.epoch = clock() if epoch is None else epoch
        self.time_scale = time_scale
        self.profile: LoadProfile = make_profile(spec.profile, spec.seed, epoch=self.epoch)
        self.mains = mains or Mains(spec.nominal_v, seed=spec.seed)
        if spec.raw_dps is None:
            self.outlets = [int(dp) for dp in switch_dps(spec.layout)]
            self.switches: dict[int, bool] = {dp: True for dp in self.outlets}
        else:
            self.outlets = [int(dp) for dp, value in spec.raw_dps if isinstance(value, bool)]
            self.switches = {int(dp): value for dp, value in spec.raw_dps if isinstance(value, bool)}
        self.extra: dict[str, Any] = {}  # writable non-switch DPs (countdown, child lock...)
        self._window = AddEleWindow.opened_at(0.0)
        self._metered = get_layout(spec.layout).metering is not None
        # current_dps() memo: the simulated second and the switch/DP state it was made for
        self._dps: dict[str, Any] = {}
        self._dps_key: tuple[int, tuple[bool, ...], tuple[tuple[str, Any], ...]] | None = None
        # counters the tests read
        self.connections_total = 0
        self.active_connections = 0
        self.max_concurrent = 0
        self.rejected_connections = 0
        self.queries = 0
        self.controls = 0
        self.refreshes = 0
        self.heartbeats = 0

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def sim_time(self) -> float:
        """Seconds of simulated time since the plug's epoch."""
        return max(0.0, (self._clock() - self.epoch) * self.time_scale)

    @property
    def is_on(self) -> bool:
        return any(self.switches.values())

    def power_w(self, t: float | None = None) -> float:
        t = self.sim_time() if t is None else t
        return self.profile.power_w(t) if self.is_on else 0.0

    def dps(self) -> dict[str, Any]:
        """All data points as the plug would report them now (a new dict, the caller's).

        Like a real plug's metering chip, the values refresh once per simulated second: every
        read within one second (and the same switch and DP state) reports the same values.
        """
        return dict(self.current_dps())

    def current_dps(self) -> dict[str, Any]:
        """:meth:`dps` without the copy: one shared dict per simulated second and state.

        For the server's hot path (a fleet is polled many times a second). Do not modify it.
        """
        key = (
            math.floor(self.sim_time()),
            tuple(self.switches.values()),
            tuple(self.extra.items()),
        )
        if key != self._dps_key:
            self._dps = self._measure(float(key[0]))
            self._dps_key = key
        return self._dps

    def _measure(self, t: float) -> dict[str, Any]:
        """Every data point at simulated second ``t``."""
        if self.spec.raw_dps is not None:  # replayed raw data: only the switches move
            raw = dict(self.spec.raw_dps)
            raw.update((str(dp), on) for dp, on in self.switches.items())
            if self.spec.profile.startswith("schedule:"):  # spec "power_schedule"
                on = self.is_on
                m = self.mains.measure(t, on=on, power_w=self.profile.power_w(t) if on else 0.0,
                                       power_factor=self.profile.power_factor(t))
                raw.update((k, v) for k, v in encode_dps(
                    "cz", switches={1: on}, power_w=m.power_w, voltage_v=m.voltage_v,
                    current_a=m.current_a, add_ele_wh=0).items() if k in ("18", "19", "20"))
            raw.update(self.extra)
            return raw
        on = self.is_on
        load = self.profile.power_w(t) if on and self._metered else 0.0
        reading = self.mains.measure(
            t, on=on, power_w=load, power_factor=self.profile.power_factor(t)
        )
        add_ele = 0
        if self._metered and t >= self._window.last_t:
            self._window = self._window.advance(t, reading.power_w)
            add_ele = self._window.reported_wh
        dps = encode_dps(
            self.spec.layout,
            switches=self.switches,
            power_w=reading.power_w,
            voltage_v=reading.voltage_v,
            current_a=reading.current_a,
            add_ele_wh=add_ele,
        )
        dps.update(self.extra)
        return dps

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a control request; return the DPs whose values changed (for the push)."""
        before = self.dps()
        for dp, value in changes.items():
            if not (dp.isascii() and dp.isdigit()):
                continue  # real plugs ignore what is not a data point
            if int(dp) in self.switches and isinstance(value, bool):
                self.switches[int(dp)] = value
            elif dp not in before or not isinstance(before[dp], bool) or isinstance(value, bool):
                self.extra[dp] = value
        after = self.dps()
        changed = {dp: v for dp, v in after.items() if before.get(dp) != v}
        for dp in changes:
            changed.setdefault(dp, after.get(dp))
        return changed

    def select(self, dp_ids: tuple[str, ...] | None) -> dict[str, Any]:
        """The DPs asked for (device22 queries), or all of them (a new dict either way)."""
        dps = self.current_dps()
        if dp_ids is None:
            return dict(dps)
        return {dp: dps[dp] for dp in dp_ids if dp in dps}
