"""Rules that live in one place: URL redaction, ISO-8601 "Z" times, the resolution picker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from powermonitor.models import redact_url
from powermonitor.storage.base import pick_resolution
from powermonitor.timeparse import iso_utc


@pytest.mark.parametrize("url,shown", [
    ("postgresql://pm:s3cret@db.lan:5432/pm", "postgresql://pm:***@db.lan:5432/pm"),
    ("mqtt://user:p%40ss:word@broker:1883", "mqtt://user:***@broker:1883"),
    ("mqtt://broker:1883", "mqtt://broker:1883"),
    ("postgresql://u@h/db?sslmode=require&password=x", "postgresql://u@h/db?sslmode=require&password=***"),
    ("http://influx:8086/write?db=pm&token=abc", "http://influx:8086/write?db=pm&token=***"),
    ("/var/lib/pm.sqlite", "/var/lib/pm.sqlite"),
    ("mqtt://[::1", "(unparseable URL)"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    for secret in ("s3cret", "p%40ss", "word@", "=x", "abc"):
        if secret in url:
            assert secret not in redact_url(url)


def test_iso_utc_from_datetimes_and_unix_seconds() -> None:
    moment = datetime(2026, 11, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert iso_utc(moment) == "2026-11-01T08:00:00.500000Z"
    assert iso_utc(moment, "seconds") == "2026-11-01T08:00:00Z"
    berlin = moment.astimezone(timezone(timedelta(hours=1)))
    assert iso_utc(berlin) == "2026-11-01T08:00:00.500000Z"
    assert iso_utc(moment.replace(tzinfo=None), "seconds") == "2026-11-01T08:00:00Z"  # naive: UTC
    assert iso_utc(moment.timestamp(), "seconds") == "2026-11-01T08:00:00Z"


@pytest.mark.parametrize("span_s,resolution", [
    (60.0, "raw"), (2 * 3600.0, "raw"), (2 * 3600.0 + 1, "1m"), (2 * 86400.0, "1m"),
    (3 * 86400.0, "1h"), (60 * 86400.0, "1h"), (61 * 86400.0, "1d"),
])
def test_pick_resolution(span_s: float, resolution: str) -> None:
    assert pick_resolution(span_s) == resolution
