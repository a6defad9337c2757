"""The doctor's verdict for every fault the simulator can inject (real sockets on loopback)."""

from __future__ import annotations

import socket

import pytest

from powermonitor.doctor import Finding, Target, diagnose, exit_code
from powermonitor.simulator.server import Faults, Fleet, fleet_specs
from powermonitor.simulator.spec import parse_spec


async def run_doctor(faults: Faults | None, *, version: str = "3.3", key: str | None = None,
                     timeout: float = 1.0) -> list[Finding]:
    fleet = Fleet(fleet_specs(1, [version]), faults={0: faults} if faults else {})
    await fleet.start()
    try:
        server = fleet.servers[0]
        spec = server.plug.spec
        target = Target(spec.device_id, server.host, key or spec.local_key, "auto", server.port)
        return await diagnose(target, timeout=timeout, listen_s=0)
    finally:
        await fleet.stop()


def verdict(findings: list[Finding]) -> Finding:
    return next(f for f in findings if f.check == "verdict")


async def test_healthy_plug_reads_and_serves_one_client_at_a_time() -> None:
    findings = await run_doctor(None)
    assert exit_code(findings) == 0
    checks = {f.check: f for f in findings}
    assert checks["tcp"].status == "ok" and checks["protocol 3.3"].status == "ok"
    assert "refuses another" in checks["second connection"].message
    assert checks["physics"].status == "ok" and "plausible" in checks["physics"].message
    assert "guess cz" in checks["profile"].message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("faults", "code", "words"),
    [
        (Faults(busy=True), 8, "another app may be connected"),
        (Faults(silent=True), 4, "never answers (waited 1 s per version)"),
        (Faults(wrong_key=True), 5, "local key"),
        (Faults(junk=True), 7, "not a Tuya plug"),
        (Faults(dp_flood=True), 7, "floods"),
        (Faults(delay_s=3.0), 4, "never answers"),
    ],
    ids=["busy", "silent", "wrong-key", "junk", "dp-flood", "delay"],
)
async def test_verdict_per_fault(faults: Faults, code: int, words: str) -> None:
    findings = await run_doctor(faults)
    assert findings[0].status == "ok"  # TCP is fine in every case: the fault is above it
    assert exit_code(findings) == code
    assert words in verdict(findings).message


async def test_push_flood_is_a_flood_or_silence_never_the_key() -> None:
    findings = await run_doctor(Faults(push_flood=True))
    assert exit_code(findings) in (4, 7)
    assert "key" not in verdict(findings).message


async def test_wrong_key_on_a_healthy_plug_blames_the_key() -> None:
    findings = await run_doctor(None, key="0123456789abcdef")
    assert exit_code(findings) == 5 and "01************ef" in verdict(findings).message


async def test_drop_after_first_request_warns_on_the_second_connection_or_reads() -> None:
    findings = await run_doctor(Faults(drop_after=1))
    assert exit_code(findings) == 0  # one request per connection is enough to read it


async def test_refused_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        findings = await diagnose(Target("bf00", "127.0.0.1", "0123456789abcdef", "3.3", port),
                                  timeout=1.0, listen_s=0)
    assert [f.check for f in findings] == ["tcp"]
    assert exit_code(findings) == 3 and "refused" in findings[0].message


async def test_profile_and_physics_findings() -> None:
    key = "0123456789abcdef"
    entries = [
        {"id": "bf01", "key": key, "product_key": "keyjup78v54myhan",
         "dps": {"1": True, "17": 0, "18": 412, "19": 890, "20": 2301}},
        {"id": "bf02", "key": key, "dps": {"1": True, "18": 100, "19": 3000, "20": 2301}},
    ]
    fleet = Fleet(parse_spec(entries))
    await fleet.start()
    try:
        known, odd = fleet.servers
        found = await diagnose(Target("bf01", known.host, key, "3.3", known.port,
                                      product_id="keyjup78v54myhan"), timeout=1.0, listen_s=0)
        profile = next(f for f in found if f.check == "profile")
        assert profile.status == "ok" and "smartplugv2_energy" in profile.message
        found = await diagnose(Target("bf02", odd.host, key, "3.3", odd.port), timeout=1.0,
                               listen_s=0)
        physics = [f for f in found if f.check == "physics"]
        assert physics and physics[0].status == "warn" and "DP 19" in physics[0].message
        assert exit_code(found) == 0
    finally:
        await fleet.stop()
