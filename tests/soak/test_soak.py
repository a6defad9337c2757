"""The fault soak's short run (bench/soak.py; the long run and its results: bench/README.md).

40 plugs for 45 s against ``powermonitor run`` as a process, every simulator fault toggled on
and off, four hostile plugs, a web flood, one ``kill -9`` of the simulator and one of the
service. It asserts the soak's invariants (no crash, memory flat, every plug back within the
backoff cap, gaps recorded as gaps, stored kWh == the integral of the stored readings, counters
never backwards, health honest), never how fast anything was.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_soak() -> Any:
    """bench/soak.py as the module ``bench_soak`` (``soak`` is this test package's name)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = module
    spec.loader.exec_module(module)
    return module


soak = _load_soak()


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_fault_soak_keeps_its_invariants(db: str, tmp_path: Path,
                                         request: pytest.FixtureRequest) -> None:
    dsn = request.getfixturevalue("pg_dsn") if db == "postgres" else None
    cfg = soak.SoakConfig(plugs=40, duration=45.0, db=db, kills=1)
    result = asyncio.run(soak.soak(cfg, tmp_path, dsn))
    assert result.problems == [], result.markdown()
    assert result.crashes == 0
    assert result.sim_kills == 1 and result.service_kills == 1
    assert result.health_zero_when_sim_dead == [True]
    assert set(result.faults) == set(soak.FAULT_FLAGS)  # every fault was injected
    assert result.readings > 0 and result.recoveries_checked > 0
    assert result.gaps_recorded > 0  # the fault windows are longer than [energy] max_gap
    assert result.rss_mb["end"] > 0
    assert result.http.get("200", 0) > 0 and result.sse_events > 0
