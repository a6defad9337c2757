"""Self-check of the interop oracle harness (tests/interop/oracles.py).

Every oracle client is run against tuyamock on 127.0.0.1 and must really read
and switch a power plug. Nothing here uses powermonitor itself: if these fail,
the harness (or an oracle install) is broken, not our code. Nothing is skipped:
a missing oracle fails with a hint to run scripts/install-test-deps.sh.
"""

from __future__ import annotations

from typing import Any

import pytest

from .oracles import (
    DEFAULT_LOCAL_KEY,
    EXPECTED_VERSIONS,
    extract_dps,
    installed_versions,
    run_tuyapi,
    rustuya_client,
    tinytuya_client,
    tuyamock_device,
)

pytestmark = pytest.mark.timeout(60)

# A switched-on resistive load: 230.4 V * 0.525 A = 121.0 W (physics checks it)
# (DP 18 current mA, DP 19 power in 0.1 W, DP 20 voltage in 0.1 V).
PLUG_DPS = {"1": True, "18": 525, "19": 1210, "20": 2304}
VERSIONS = ["3.1", "3.3", "3.4", "3.5"]
DEVICE_ID = "bf3a4c5d6e7f80912a3b"


def _mock_kwargs(version: str) -> dict[str, Any]:
    # tuyapi matches 3.5 replies by seqno (and skips one on set); tuyamock's
    # "faithful" global counter on 3.5 makes tuyapi's second request hang.
    return {"seqno_mode": "echo"} if version == "3.5" else {}


def test_oracle_versions_installed() -> None:
    versions = installed_versions()
    assert versions["tinytuya"] == EXPECTED_VERSIONS["tinytuya"], versions
    assert versions["tuyamock"] == EXPECTED_VERSIONS["tuyamock"], versions
    assert versions["tuyapi"] == EXPECTED_VERSIONS["tuyapi"], versions
    assert versions["rustuya"].startswith(EXPECTED_VERSIONS["rustuya"] + "."), versions


def test_extract_dps_shapes() -> None:
    assert extract_dps({"dps": {"1": True}}) == {"1": True}
    assert extract_dps({"protocol": 4, "t": 1, "data": {"dps": {"19": 5}}}) == {"19": 5}
    assert extract_dps({"Error": "x", "Err": "901"}) is None
    assert extract_dps(None) is None


@pytest.mark.parametrize("host", [None, "", "Auto", "0.0.0.0", "192.168.1.20", "10.0.0.1"])
def test_clients_refuse_non_loopback(host: object) -> None:
    with pytest.raises(ValueError):
        tinytuya_client(DEVICE_ID, host, 6668, DEFAULT_LOCAL_KEY, "3.3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rustuya_client(DEVICE_ID, host, 6668, DEFAULT_LOCAL_KEY, "3.3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        run_tuyapi(DEVICE_ID, host, 6668, DEFAULT_LOCAL_KEY, "3.3", ["get"])  # type: ignore[arg-type]


def test_tuyamock_handle_attributes() -> None:
    with tuyamock_device("3.4", DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID) as dev:
        assert dev.host == "127.0.0.1"
        assert 0 < dev.port < 65536
        assert dev.device_id == DEVICE_ID
        assert dev.local_key == DEFAULT_LOCAL_KEY
        assert dev.version == "3.4"
        assert dev.dps == PLUG_DPS
        assert dev.dps is not dev.mock.dps  # a snapshot
        assert dev.connections == 0
        assert dev.push({"19": 1300}) is False  # nobody connected: nothing sent...
        assert dev.dps["19"] == 1300  # ...but the state changed


# ---------------------------------------------------------------- tinytuya


@pytest.mark.parametrize("version", VERSIONS)
def test_tinytuya_reads_and_switches_tuyamock(version: str) -> None:
    with tuyamock_device(version, DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID) as dev:
        d = tinytuya_client(dev.device_id, dev.host, dev.port, dev.local_key, version)
        try:
            st = d.status()
            assert "Error" not in st, st
            assert st["dps"] == PLUG_DPS

            reply = d.set_value("1", False)
            assert "Error" not in reply, reply
            assert reply["dps"] == {"1": False}
            assert dev.dps == {**PLUG_DPS, "1": False}

            st = d.status()
            assert "Error" not in st, st
            assert st["dps"] == {**PLUG_DPS, "1": False}
        finally:
            d.close()
        # non-persistent: one TCP connection per command
        assert dev.connections == 3


@pytest.mark.parametrize("version", ["3.3", "3.5"])
def test_tinytuya_receives_tuyamock_push(version: str) -> None:
    with tuyamock_device(version, DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID) as dev:
        d = tinytuya_client(dev.device_id, dev.host, dev.port, dev.local_key, version, persist=True)
        try:
            assert d.status()["dps"] == PLUG_DPS
            assert dev.connected
            assert dev.push({"18": 512, "19": 1290}) is True
            msg = d.receive()
            assert msg is not None and "Error" not in msg, msg
            assert msg["dps"] == {"18": 512, "19": 1290}
            assert d.status()["dps"] == {**PLUG_DPS, "18": 512, "19": 1290}
        finally:
            d.close()
        assert dev.connections == 1


def test_tinytuya_device22_tuyamock() -> None:
    with tuyamock_device(
        "3.3", DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID, dev22=True
    ) as dev:
        d = tinytuya_client(dev.device_id, dev.host, dev.port, dev.local_key, "3.3")
        st = d.status()  # DP_QUERY rejected -> tinytuya switches to device22 and retries
        assert "Error" not in st, st
        assert d.dev_type == "device22"
        # device22 answers only the asked dps; on detection tinytuya resets its
        # request list to {"1": None}, so extra dps must be added afterwards.
        assert st["dps"] == {"1": True}
        d.add_dps_to_request(["18", "19", "20"])
        assert d.status()["dps"] == PLUG_DPS
        assert d.set_value("1", False)["dps"] == {"1": False}
        assert d.status()["dps"] == {**PLUG_DPS, "1": False}


def test_tinytuya_reports_refused_connection(refused_port: int) -> None:
    d = tinytuya_client(DEVICE_ID, "127.0.0.1", refused_port, DEFAULT_LOCAL_KEY, "3.3")
    st = d.status()
    assert st is not None and "Error" in st and st.get("Err") == "901", st


# ---------------------------------------------------------------- tuyapi


@pytest.mark.parametrize("version", VERSIONS)
def test_tuyapi_get_tuyamock(version: str) -> None:
    with tuyamock_device(
        version, DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID, **_mock_kwargs(version)
    ) as dev:
        res = run_tuyapi(dev.device_id, dev.host, dev.port, dev.local_key, version, ["get", "get"])
        assert res["ok"] is True, res
        assert [r["op"] for r in res["results"]] == ["get", "get"]
        for r in res["results"]:
            assert r["dps"] == PLUG_DPS, res
        # one connection for the whole op list
        assert dev.connections == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_tuyapi_set_nowait_then_get_tuyamock(version: str) -> None:
    with tuyamock_device(
        version, DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID, **_mock_kwargs(version)
    ) as dev:
        res = run_tuyapi(
            dev.device_id,
            dev.host,
            dev.port,
            dev.local_key,
            version,
            ["get", "set:1:false", "get"],
            wait_for_response=False,
        )
        assert res["ok"] is True, res
        first, setres, last = res["results"]
        assert first["dps"] == PLUG_DPS
        assert setres == {
            "op": "set",
            "wait": False,
            "dps": None,
            "raw": None,
            "request": {"1": False},
        }
        assert last["dps"] == {**PLUG_DPS, "1": False}
        assert dev.dps == {**PLUG_DPS, "1": False}
        # tuyamock answers CONTROL (7) / CONTROL_NEW (13) with the changed dps, no STATUS (8)
        control = 13 if version in ("3.4", "3.5") else 7
        set_events = [e for e in res["events"] if e["cmd"] == control]
        assert [extract_dps(e["payload"]) for e in set_events] == [{"1": False}], res["events"]
        assert not [e for e in res["events"] if e["cmd"] == 8], res["events"]


def test_tuyapi_set_value_types_tuyamock() -> None:
    dps = {**PLUG_DPS, "9": 0, "38": "memory"}
    with tuyamock_device("3.4", DEFAULT_LOCAL_KEY, dps, device_id=DEVICE_ID) as dev:
        res = run_tuyapi(
            dev.device_id,
            dev.host,
            dev.port,
            dev.local_key,
            "3.4",
            [
                "setnw:9:30",
                'setnw:38:"off"',
                {"op": "set", "data": {"1": False}, "wait": False},
                "get",
            ],
            wait_for_response=True,
        )
        assert res["ok"] is True, res
        assert res["results"][-1]["dps"] == {**dps, "1": False, "9": 30, "38": "off"}


def test_tuyapi_hard_timeout_on_waiting_set_against_tuyamock() -> None:
    # A waiting set() needs a STATUS (cmd 8) push that tuyamock never sends; the
    # script's own deadline must end the process and report the op in progress.
    with tuyamock_device("3.3", DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID) as dev:
        res = run_tuyapi(
            dev.device_id,
            dev.host,
            dev.port,
            dev.local_key,
            "3.3",
            ["set:1:false"],
            wait_for_response=True,
            timeout=1,
        )
        assert res["ok"] is False
        assert res["exit_code"] == 3
        assert "timeout" in res["error"] and "op #0" in res["error"], res
        # the set itself reached the device
        assert dev.dps["1"] is False


def test_tuyapi_reports_refused_connection(refused_port: int) -> None:
    res = run_tuyapi(DEVICE_ID, "127.0.0.1", refused_port, DEFAULT_LOCAL_KEY, "3.4", ["get"])
    assert res["ok"] is False
    assert res["exit_code"] == 1
    assert "ECONNREFUSED" in res["error"], res


# ---------------------------------------------------------------- rustuya


@pytest.mark.parametrize("version", VERSIONS)
def test_rustuya_reads_and_switches_tuyamock(version: str) -> None:
    with tuyamock_device(version, DEFAULT_LOCAL_KEY, PLUG_DPS, device_id=DEVICE_ID) as dev:
        d = rustuya_client(dev.device_id, dev.host, dev.port, dev.local_key, version)
        try:
            assert extract_dps(d.status()) == PLUG_DPS
            assert extract_dps(d.set_value("1", False)) == {"1": False}
            assert dev.dps == {**PLUG_DPS, "1": False}
            assert extract_dps(d.status()) == {**PLUG_DPS, "1": False}
        finally:
            d.stop()
