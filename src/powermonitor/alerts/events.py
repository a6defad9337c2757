"""The one alert event schema: the webhook body, the MQTT payload, the API, the log and the CLI.

```json
{"id": "3f1c…", "alert": "washer done", "plug": "Washer", "plug_id": "bf12…",
 "event": "finished", "time": "2026-12-06T10:42:00Z", "message": "Washer: washer done …",
 "values": {"kwh": 0.61, "cost": 0.18},
 "cycle": {"start": "…", "end": "…", "duration_s": 3540.0, "kwh": 0.61, "cost": 0.18,
           "peak_w": 2010.0}}
```

``id`` is stable for the same occurrence (rule, plug, event and the moment it refers to: a
cycle's start), so an event re-detected after a restart is de-duplicated by the outbox.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..insight.cycles import Cycle, iso

Value = float | int | str | bool | None


class Deliverable(Protocol):
    """What a notifier needs: an :class:`AlertEvent`, or one read back from the outbox."""

    @property
    def alert(self) -> str: ...
    @property
    def plug(self) -> str: ...
    @property
    def plug_id(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def message(self) -> str: ...
    def dumps(self) -> str: ...


class StoredEvent:
    """An event read back from the outbox: delivers the stored JSON byte for byte."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.alert = str(body.get("alert", ""))
        self.plug = str(body.get("plug", ""))
        self.plug_id = str(body.get("plug_id", ""))
        self.event = str(body.get("event", ""))
        self.message = str(body.get("message", ""))

    def dumps(self) -> str:
        return json.dumps(self.body, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    alert: str
    plug: str
    plug_id: str
    event: str  # finished, running, overload, overload_cleared, offline, online, standby, ...
    time: float  # Unix seconds
    values: Mapping[str, Value] = field(default_factory=dict)
    cycle: Cycle | None = None
    notify: tuple[str, ...] = ()
    key_time: float | None = None  # the moment this occurrence refers to (default: time)

    @property
    def id(self) -> str:
        moment = self.key_time if self.key_time is not None else self.time
        raw = f"{self.alert}\x00{self.plug_id}\x00{self.event}\x00{round(moment * 1000)}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    @property
    def message(self) -> str:
        """One human line (ntfy body, log line)."""
        parts = [f"{self.plug or self.plug_id}: {self.alert} ({self.event})"]
        if self.cycle is not None:
            c = self.cycle
            parts.append(f"{c.duration_s / 60:.0f} min, {c.wh / 1000:.2f} kWh, cost {c.cost:.2f}")
        else:
            parts += [f"{k} {v}" for k, v in self.values.items() if v is not None]
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "alert": self.alert,
            "plug": self.plug,
            "plug_id": self.plug_id,
            "event": self.event,
            "time": iso(self.time),
            "message": self.message,
            "values": dict(self.values),
        }
        if self.cycle is not None:
            body["cycle"] = self.cycle.to_json()
        return body

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)
