"""Cycles and the alert log/outbox in the service's database (tables of schema migration 2).

Portable SQL through :meth:`Store.transact`, so SQLite and PostgreSQL share every statement.
Times are integer milliseconds like the rest of the schema.

The outbox is what makes delivery durable: an event and one row per channel are written in one
transaction BEFORE anything is sent; a row is marked delivered only after the channel took it.
A notifier that is down, or a restart, therefore loses nothing; the event id (stable for one
occurrence) de-duplicates an event detected twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..alerts.events import AlertEvent
from ..storage.base import Store
from .cycles import Cycle

MAX_ERROR = 300
NEVER_MS = 2**53  # next_ts of a delivery given up: never due again, kept in the log


def _ms(ts: float) -> int:
    return round(ts * 1000)


@dataclass(frozen=True, slots=True)
class Pending:
    """One (event, channel) delivery that is due."""

    event_id: str
    channel: str
    attempts: int
    body: dict[str, Any]
    ts: float  # the event's time


class InsightStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ cycles

    async def save_cycle(self, cycle: Cycle) -> None:
        await self.store.transact([(
            ("INSERT INTO cycles VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, start_ts)"
            " DO UPDATE SET end_ts = excluded.end_ts, wh = excluded.wh, cost = excluded.cost,"
            " peak_w = excluded.peak_w"),
            (cycle.device_id, _ms(cycle.start), _ms(cycle.end), cycle.wh, cycle.cost,
             cycle.peak_w),
        )])

    async def cycles(self, device_id: str | None, since: float, until: float,
                     limit: int = 10_000) -> list[Cycle]:
        where = "start_ts >= ? AND start_ts < ?"
        args: list[Any] = [_ms(since), _ms(until)]
        if device_id is not None:
            where += " AND device_id = ?"
            args.append(device_id)
        (rows,) = await self.store.transact([(
            (f"SELECT device_id, start_ts, end_ts, wh, cost, peak_w FROM cycles WHERE {where}"
            f" ORDER BY start_ts LIMIT {int(limit)}"), args)])
        return [Cycle(r[0], r[1] / 1000, r[2] / 1000, r[3], r[4], r[5]) for r in rows]

    # ------------------------------------------------------------------ always-on power

    async def minute_means(self, device_id: str, since: float, until: float
                           ) -> list[tuple[float, float]]:
        """(minute start, mean W) from the raw samples taken while the plug was switched on:
        what the always-on power is computed from, where raw samples are still kept."""
        (rows,) = await self.store.transact([(
            ("SELECT ts / 60000, avg(power_w) FROM samples WHERE device_id = ? AND ts >= ?"
            " AND ts < ? AND power_w IS NOT NULL AND (switch_on IS NULL OR switch_on <> ?)"
            " GROUP BY ts / 60000 ORDER BY 1"), (device_id, _ms(since), _ms(until), False))])
        return [(int(r[0]) * 60.0, float(r[1])) for r in rows]

    async def readings(self, device_id: str, since: float, until: float,
                       limit: int = 100_000) -> list[tuple[float, float | None]]:
        """(time, W) of the raw samples in the range, oldest first (for the alerts' replay)."""
        (rows,) = await self.store.transact([(
            ("SELECT ts, power_w FROM samples WHERE device_id = ? AND ts >= ? AND ts < ?"
            f" ORDER BY ts LIMIT {int(limit)}"), (device_id, _ms(since), _ms(until)))])
        return [(int(r[0]) / 1000, r[1]) for r in rows]

    # ------------------------------------------------------------------ alerts

    async def enqueue(self, event: AlertEvent, channels: Sequence[str], next_ts: float) -> bool:
        """Log the event and queue it for each channel; False if it was already logged."""
        body = event.dumps()
        statements: list[tuple[str, Sequence[Any]]] = [(
            ("INSERT INTO alert_events VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            " RETURNING id"),
            (event.id, _ms(event.time), event.plug_id, event.alert, event.event, body),
        )]
        statements += [(
            ("INSERT INTO alert_outbox VALUES (?, ?, 0, ?, NULL, '')"
            " ON CONFLICT (event_id, channel) DO NOTHING"),
            (event.id, channel, _ms(next_ts)),
        ) for channel in channels]
        results = await self.store.transact(statements)
        return bool(results[0])

    async def due(self, now: float, limit: int = 50) -> list[Pending]:
        (rows,) = await self.store.transact([(
            ("SELECT o.event_id, o.channel, o.attempts, e.body, e.ts FROM alert_outbox o"
            " JOIN alert_events e ON e.id = o.event_id"
            " WHERE o.delivered_ts IS NULL AND o.next_ts <= ? ORDER BY o.next_ts"
            f" LIMIT {int(limit)}"), (_ms(now),))])
        return [Pending(r[0], r[1], int(r[2]), json.loads(r[3]), r[4] / 1000) for r in rows]

    async def next_due(self) -> float | None:
        (rows,) = await self.store.transact([(
            "SELECT min(next_ts) FROM alert_outbox WHERE delivered_ts IS NULL", ())])
        return None if not rows or rows[0][0] is None else rows[0][0] / 1000

    async def delivered(self, event_id: str, channel: str, now: float) -> None:
        await self.store.transact([(
            ("UPDATE alert_outbox SET delivered_ts = ?, attempts = attempts + 1, last_error = ''"
            " WHERE event_id = ? AND channel = ?"), (_ms(now), event_id, channel))])

    async def failed(self, event_id: str, channel: str, retry_at: float, error: str) -> None:
        await self.store.transact([(
            ("UPDATE alert_outbox SET attempts = attempts + 1, next_ts = ?, last_error = ?"
            " WHERE event_id = ? AND channel = ?"),
            (_ms(retry_at), error[:MAX_ERROR], event_id, channel))])

    async def give_up(self, event_id: str, channel: str, error: str) -> None:
        """Stop retrying one delivery (kept in the log with its last error)."""
        await self.store.transact([(
            ("UPDATE alert_outbox SET next_ts = ?, last_error = ? WHERE event_id = ? AND"
            " channel = ?"), (NEVER_MS, error[:MAX_ERROR], event_id, channel))])

    async def purge(self, before: float) -> int:
        """Forget events older than ``before`` whose deliveries are all done or given up."""
        settled = ("SELECT id FROM alert_events WHERE ts < ? AND id NOT IN (SELECT event_id"
                   " FROM alert_outbox WHERE delivered_ts IS NULL AND next_ts < ?)")
        args = (_ms(before), NEVER_MS)
        _, removed = await self.store.transact([
            (f"DELETE FROM alert_outbox WHERE event_id IN ({settled})", args),
            (f"DELETE FROM alert_events WHERE id IN ({settled}) RETURNING id", args),
        ])
        return len(removed)

    async def recent(self, limit: int = 50, since: float = 0.0) -> list[dict[str, Any]]:
        """Recent events (newest first), each with its delivery state per channel."""
        limit = max(1, min(int(limit), 1000))
        events, outbox = await self.store.transact([
            (("SELECT id, body FROM alert_events WHERE ts >= ? ORDER BY ts DESC, id"
             f" LIMIT {limit}"), (_ms(since),)),
            (("SELECT o.event_id, o.channel, o.attempts, o.delivered_ts, o.last_error"
             " FROM alert_outbox o JOIN (SELECT id FROM alert_events WHERE ts >= ?"
             f" ORDER BY ts DESC, id LIMIT {limit}) e ON e.id = o.event_id"), (_ms(since),)),
        ])
        deliveries: dict[str, list[dict[str, Any]]] = {}
        for event_id, channel, attempts, delivered_ts, error in outbox:
            deliveries.setdefault(event_id, []).append({
                "channel": channel, "attempts": int(attempts),
                "delivered": delivered_ts is not None, "error": error or None})
        out = []
        for event_id, body in events:
            item = json.loads(body)
            item["deliveries"] = sorted(deliveries.get(event_id, []), key=lambda d: d["channel"])
            out.append(item)
        return out
