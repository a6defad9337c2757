"""Other people's clients (tinytuya, tuyapi, rustuya) against powermonitor's simulator.

If three independent clients read and switch our simulated plugs, the simulator behaves
like a plug and not just like our own client expects. Every switch is verified on the
simulator side (``SimulatedPlug.switches`` and its dps), not only from the client's reply,
and the power DPs a peer sees must sit where the plug's layout puts them.

The simulator runs in a background thread (``simfleet.sim_fleet``) because these clients
block. Everything is on 127.0.0.1 with OS-assigned ports; no peer's scan/find/discovery is
ever called (the oracle helpers refuse non-loopback addresses).

Version coverage: 3.1, 3.3, 3.4, 3.5 for every peer; 3.2 (always device22) where the peer
has a 3.2 mode: tinytuya ``version=3.2``, tuyapi ``version: '3.2'``, rustuya ``"3.2"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from powermonitor.simulator.plug import PlugSpec, SimulatedPlug
from powermonitor.simulator.server import PlugServer, fleet_specs

from .oracles import extract_dps, run_tuyapi, rustuya_client, tinytuya_client
from .simfleet import SimFleetHandle, sim_fleet, sim_server

pytestmark = pytest.mark.timeout(60)

VERSIONS = ["3.1", "3.3", "3.4", "3.5"]
VERSIONS_WITH_32 = ["3.1", "3.2", "3.3", "3.4", "3.5"]
PROFILE = "constant:1210"  # 1210 W, power factor 1, no noise
SOCKET_TIMEOUT = 1.0  # every answer comes from loopback
TUYAPI_TIMEOUT = 8.0  # hard deadline of the node process (a waiting set gives up after 5 s)

# Where each simulated layout puts its quantities (tuya-protocol.md §6), written out here
# rather than read from the simulator's own table so a wrong table cannot pass.
LAYOUT_DPS: dict[str, dict[str, Any]] = {
    "cz": {"switches": ["1"], "current": "18", "power": "19", "voltage": "20"},
    "legacy": {"switches": ["1"], "current": "4", "power": "5", "voltage": "6"},
    "switch20": {"switches": ["1"], "current": "21", "power": "22", "voltage": "23"},
    "strip4": {
        "switches": ["1", "2", "3", "4", "7"],
        "current": "18",
        "power": "19",
        "voltage": "20",
    },
    "nopower": {"switches": ["1"], "current": None, "power": None, "voltage": None},
}


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimFleetHandle]:
    """One 'cz' plug drawing a constant 1210 W, at the version given by the test's param."""
    version = request.param if hasattr(request, "param") else "3.3"
    with sim_fleet(1, versions=[version], layouts=["cz"], profiles=[PROFILE]) as handle:
        yield handle


def _connect_args(sim: SimFleetHandle, index: int = 0) -> tuple[str, str, int, str, str]:
    e = sim.entry(index)
    assert e["ip"] == "127.0.0.1"
    return e["id"], e["ip"], e["port"], e["key"], e["version"]


def _assert_power_dps(
    dps: dict[str, Any] | None, layout: str, *, on: bool, watts: float = 1210.0
) -> None:
    """The dps a peer saw carry the layout's power DPs with plausible values."""
    assert dps is not None
    where = LAYOUT_DPS[layout]
    for sw in where["switches"]:
        assert dps.get(sw) is on, (sw, dps)
    if where["power"] is None:
        assert not any(
            isinstance(v, int) and not isinstance(v, bool) and v > 100 for v in dps.values()
        ), dps
        return
    power_dw, current_ma, voltage_dv = (dps[where[k]] for k in ("power", "current", "voltage"))
    assert 2300 * 0.98 <= voltage_dv <= 2300 * 1.02, dps  # 230 V mains within its jitter
    if not on:
        assert power_dw == 0 and current_ma == 0, dps
        return
    assert power_dw == round(watts * 10), dps  # exact: a constant profile
    expected_ma = (power_dw / 10) / (voltage_dv / 10) * 1000  # I = P / (V * PF), PF 1
    assert current_ma == pytest.approx(expected_ma, rel=0.005), dps


# ====================================================================== tinytuya


@pytest.mark.parametrize("sim", VERSIONS_WITH_32, indirect=True)
def test_tinytuya_reads_and_switches_simulator(sim: SimFleetHandle) -> None:
    dev_id, host, port, key, version = _connect_args(sim)
    d = tinytuya_client(dev_id, host, port, key, version, socket_timeout=SOCKET_TIMEOUT)
    try:
        st = d.status()
        assert "Error" not in st, st
        _assert_power_dps(st["dps"], "cz", on=True)
        assert st["dps"] == _sim_dps_with_mains_as_seen(sim.state(0).dps, st["dps"])
        if version == "3.2":
            assert d.dev_type == "device22"

        reply = d.set_value("1", False)  # tinytuya returns the STATUS push after the ack
        assert "Error" not in reply, reply
        assert reply["dps"]["1"] is False
        state = sim.state(0)
        assert state.switches == {1: False}  # switched on the simulator, not only in a reply
        assert state.dps["1"] is False and state.dps["19"] == 0
        assert state.controls == 1

        st = d.status()
        assert "Error" not in st, st
        _assert_power_dps(st["dps"], "cz", on=False)

        # heartbeat, waiting for the answer: tinytuya reads the empty HEART_BEAT reply, then
        # keeps reading for a payload until its socket timeout and returns None; a short
        # timeout for this one call keeps the test fast (nothing is timed)
        hb_client = tinytuya_client(dev_id, host, port, key, version, socket_timeout=0.2)
        hb = hb_client.heartbeat(nowait=False)
        assert hb is None or "Error" not in hb, hb
        assert sim.state(0).heartbeats == 1

        # UPDATEDPS: the simulator acks and pushes the asked dps
        upd = d.updatedps([18, 19, 20])
        assert upd is not None and "Error" not in upd, upd
        assert set(upd["dps"]) == {"18", "19", "20"}
        assert upd["dps"]["19"] == 0
        assert sim.state(0).refreshes == 1

        assert d.set_value("1", True)["dps"]["1"] is True
        assert sim.state(0).switches == {1: True}
    finally:
        d.close()
    assert sim.state(0).rejected_connections == 0


def _sim_dps_with_mains_as_seen(sim_dps: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    """The simulator's dps, with the drifting voltage/current taken from what the peer saw.

    The snapshot is taken a moment after the peer's read; mains voltage (and so current)
    may have moved by then. Everything else must be identical.
    """
    out = dict(sim_dps)
    for dp in ("18", "20"):
        if dp in seen:
            out[dp] = seen[dp]
    return out


# ====================================================================== tuyapi


@pytest.mark.parametrize("sim", VERSIONS, indirect=True)
def test_tuyapi_get_and_waiting_set_simulator(sim: SimFleetHandle) -> None:
    dev_id, host, port, key, version = _connect_args(sim)
    res = run_tuyapi(
        dev_id,
        host,
        port,
        key,
        version,
        ["get", "set:1:false", "get"],
        wait_for_response=True,
        timeout=TUYAPI_TIMEOUT,
    )
    assert res["ok"] is True, res
    first, setres, last = res["results"]
    _assert_power_dps(first["dps"], "cz", on=True)
    # the waiting set() resolves on our cmd 8 push, which carries the changed dps
    assert setres["wait"] is True
    assert setres["dps"] is not None and setres["dps"]["1"] is False, setres
    assert any(e["cmd"] == 8 for e in res["events"]), res["events"]
    _assert_power_dps(last["dps"], "cz", on=False)
    state = sim.state(0)
    assert state.switches == {1: False}
    assert state.controls == 1 and state.queries == 2
    assert state.connections_total == 1  # one connection for the whole op list


@pytest.mark.parametrize("sim", VERSIONS, indirect=True)
def test_tuyapi_set_without_waiting_simulator(sim: SimFleetHandle) -> None:
    dev_id, host, port, key, version = _connect_args(sim)
    res = run_tuyapi(
        dev_id, host, port, key, version, ["setnw:1:false", "get"], timeout=TUYAPI_TIMEOUT
    )
    assert res["ok"] is True, res
    setres, last = res["results"]
    assert setres == {"op": "set", "wait": False, "dps": None, "raw": None, "request": {"1": False}}
    _assert_power_dps(last["dps"], "cz", on=False)
    assert sim.state(0).switches == {1: False}


@pytest.mark.parametrize("sim", ["3.2"], indirect=True)
def test_tuyapi_switches_simulator_32(sim: SimFleetHandle) -> None:
    # tuyapi 3.2 sends CONTROL like 3.3; the waiting set resolves on our cmd 8 push
    dev_id, host, port, key, version = _connect_args(sim)
    res = run_tuyapi(dev_id, host, port, key, version, ["set:1:false"], timeout=TUYAPI_TIMEOUT)
    assert res["ok"] is True, res
    assert res["results"][0]["dps"]["1"] is False
    assert sim.state(0).switches == {1: False}
    res = run_tuyapi(dev_id, host, port, key, version, ["setnw:1:true"], timeout=TUYAPI_TIMEOUT)
    assert res["ok"] is True, res
    assert sim.wait_idle(0).switches == {1: True}


@pytest.mark.parametrize(("version", "device22"), [("3.2", ()), ("3.3", (0,))])
def test_tuyapi_reads_device22_simulator(version: str, device22: tuple[int, ...]) -> None:
    """tuyapi reads a device22 plug with CONTROL {"dps": {"1": null}} and waits for cmd 8/10.

    On 3.2 ``get()`` always goes that way; on 3.3 it falls back to it after the plug
    answered DP_QUERY with "json obj data unvalid". tuyapi resolves that poll only on a
    STATUS (cmd 8) or DP_QUERY (cmd 10) frame. Our simulator answers it with a cmd 7 frame
    carrying the dps, which tuyapi ignores, so get() never returns (SIMULATOR BUG, see
    the interop report): this test fails until the simulator answers such a poll with a
    cmd 8 (or ack + cmd 8 push, like a real control).
    """
    with sim_fleet(
        1, versions=[version], layouts=["cz"], profiles=[PROFILE], device22=device22
    ) as sim:
        dev_id, host, port, key, _ = _connect_args(sim)
        # tuyapi would wait 5 s for the answer it never gets; the script's 2 s deadline ends it
        res = run_tuyapi(dev_id, host, port, key, version, ["get"], timeout=2.0)
        assert sim.state(0).queries >= 1  # the poll reached the simulator and was answered
        assert res["ok"] is True, res
        # device22 answers only the asked DPs; tuyapi asks DP 1
        assert res["results"][0]["dps"]["1"] is True


# ====================================================================== rustuya


@pytest.mark.parametrize("sim", VERSIONS_WITH_32, indirect=True)
def test_rustuya_reads_and_switches_simulator(sim: SimFleetHandle) -> None:
    dev_id, host, port, key, version = _connect_args(sim)
    d = rustuya_client(dev_id, host, port, key, version, timeout=SOCKET_TIMEOUT)
    try:
        dps = extract_dps(d.status())
        if version == "3.2":
            # rustuya detects device22 and polls only DP 1; ask for the power DPs by hand
            # (CONTROL with null values is the device22 read)
            assert dps == {"1": True}
            dps = extract_dps(d.request(7, {"1": None, "18": None, "19": None, "20": None}))
            assert dps is not None and set(dps) == {"1", "18", "19", "20"}, dps
            dps = {**sim.state(0).dps, **dps}
        _assert_power_dps(dps, "cz", on=True)

        d.set_value("1", False)
        state = sim.state(0)
        assert state.switches == {1: False}
        assert state.dps["19"] == 0

        dps = extract_dps(d.status())
        assert dps is not None and dps["1"] is False
        if version != "3.2":
            _assert_power_dps(dps, "cz", on=False)

        d.set_value("1", True)
        assert sim.state(0).switches == {1: True}
    finally:
        d.stop()
    assert sim.state(0).rejected_connections == 0


@pytest.mark.parametrize("version", ["3.3", "3.4"])
def test_rustuya_reads_and_switches_device22_simulator(version: str) -> None:
    """rustuya on a 3.3/3.4 plug that refuses DP_QUERY ("json obj data unvalid").

    rustuya reports its own device22 switch once (error 908 "Retry Command", like tinytuya's
    internal 908) and polls DP 1 with CONTROL_NEW from then on.
    """
    with sim_fleet(1, versions=[version], layouts=["cz"], profiles=[PROFILE], device22=(0,)) as sim:
        dev_id, host, port, key, _ = _connect_args(sim)
        d = rustuya_client(dev_id, host, port, key, version, timeout=SOCKET_TIMEOUT)
        try:
            first = d.status()
            assert first.get("errorCode") == 908, first
            assert d.dev_type == "device22"
            assert extract_dps(d.status()) == {"1": True}
            d.set_value("1", False)
            assert sim.state(0).switches == {1: False}
            assert extract_dps(d.status()) == {"1": False}
        finally:
            d.stop()


# ====================================================================== layouts


@pytest.mark.parametrize("layout", sorted(LAYOUT_DPS))
def test_peers_see_the_layouts_power_dps(layout: str) -> None:
    """Each peer finds the power DPs where the plug's firmware family puts them."""
    with sim_fleet(3, versions=["3.3", "3.4", "3.5"], layouts=[layout], profiles=[PROFILE]) as sim:
        # tinytuya on 3.3
        dev_id, host, port, key, version = _connect_args(sim, 0)
        d = tinytuya_client(dev_id, host, port, key, version, socket_timeout=SOCKET_TIMEOUT)
        st = d.status()
        assert "Error" not in st, st
        _assert_power_dps(st["dps"], layout, on=True)
        assert d.set_value("1", False)["dps"]["1"] is False
        assert sim.state(0).switches[1] is False

        # rustuya on 3.4
        dev_id, host, port, key, version = _connect_args(sim, 1)
        r = rustuya_client(dev_id, host, port, key, version, timeout=SOCKET_TIMEOUT)
        try:
            _assert_power_dps(extract_dps(r.status()), layout, on=True)
        finally:
            r.stop()

        # tuyapi on 3.5
        dev_id, host, port, key, version = _connect_args(sim, 2)
        res = run_tuyapi(dev_id, host, port, key, version, ["get"], timeout=TUYAPI_TIMEOUT)
        assert res["ok"] is True, res
        _assert_power_dps(res["results"][0]["dps"], layout, on=True)


# ====================================================================== connections


@pytest.mark.parametrize("sim", VERSIONS_WITH_32, indirect=True)
def test_tinytuya_nonpersistent_one_connection_at_a_time(sim: SimFleetHandle) -> None:
    """tinytuya's default mode opens one connection per call, strictly one after another."""
    dev_id, host, port, key, version = _connect_args(sim)
    d = tinytuya_client(dev_id, host, port, key, version, socket_timeout=SOCKET_TIMEOUT)
    before = sim.state(0).connections_total
    calls = 0
    for i in range(5):
        for result in (d.status(), d.set_value("1", i % 2 == 1), d.updatedps([19])):
            calls += 1
            assert result is not None and "Error" not in result, (i, result)
    state = sim.wait_idle(0)
    assert state.max_concurrent == 1
    assert state.rejected_connections == 0
    if version != "3.2":  # on 3.2 tinytuya's first status() also probes DP ranges
        assert state.connections_total - before == calls
    assert state.switches == {1: False}


@pytest.mark.parametrize("version", VERSIONS)
def test_tinytuya_never_holds_two_connections(version: str) -> None:
    """Same, measured: a plug that *accepts* up to 8 clients saw at most one at a time.

    With the usual one-client limit ``max_concurrent`` can never exceed 1 by construction;
    lifting the limit makes the counter a real measurement of the client.
    """
    spec = fleet_specs(1, [version], ["cz"], [PROFILE])[0]
    assert isinstance(spec, PlugSpec)
    with sim_server(
        lambda: PlugServer(SimulatedPlug(spec), "127.0.0.1", 0, max_connections=8)
    ) as sim:
        dev_id, host, port, key, _ = _connect_args(sim)
        d = tinytuya_client(dev_id, host, port, key, version, socket_timeout=SOCKET_TIMEOUT)
        for i in range(5):
            assert "Error" not in d.status()
            assert "Error" not in d.set_value("1", i % 2 == 1)
        state = sim.wait_idle(0)
        assert state.connections_total == 10
        assert state.max_concurrent == 1
        assert state.rejected_connections == 0


def test_tinytuya_call_right_after_nowait_heartbeat_is_served() -> None:
    """``heartbeat()`` (tinytuya's default ``nowait=True``) sends, closes, and returns at once.

    The next call connects while the simulator has read the heartbeat but not yet the
    client's FIN. The simulator then still counts the old connection as open and refuses
    the new one (SIMULATOR BUG, see the interop report): tinytuya retries it on 3.1/3.3
    (``rejected_connections`` grows) and fails the call with Err 914 on 3.4/3.5 (a reset
    during the handshake). A plug that takes one client at a time must still serve a client
    that closed before the next one connected.

    All four versions run in one test: the race is lost almost every round on 3.1/3.3 but
    only in some runs on 3.4/3.5, so one verdict over all of them is stable.
    """
    rounds = 10
    report: dict[str, dict[str, Any]] = {}
    with sim_fleet(len(VERSIONS), versions=VERSIONS, layouts=["cz"], profiles=[PROFILE]) as sim:
        for index, version in enumerate(VERSIONS):
            dev_id, host, port, key, _ = _connect_args(sim, index)
            d = tinytuya_client(dev_id, host, port, key, version, socket_timeout=SOCKET_TIMEOUT)
            failures = []
            for i in range(rounds):
                d.heartbeat()  # nowait: no answer read
                st = d.status()
                if st is None or "Error" in st:
                    failures.append((i, (st or {}).get("Err")))
            state = sim.wait_idle(index)
            assert state.heartbeats == rounds, state
            assert state.max_concurrent == 1, state
            report[version] = {
                "failed_calls": failures,
                "rejected_connections": state.rejected_connections,
            }
    assert all(r == {"failed_calls": [], "rejected_connections": 0} for r in report.values()), (
        report
    )
