"""``powermonitor wizard openapi`` end to end: the real CLI against a fake OpenAPI on loopback.

The fake checks every signature (its own implementation), pages its lists two entries at a
time, and injects each failure of docs/cloud-keys.md's table.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from powermonitor.cli.main import cli
from powermonitor.client.plug import Plug
from powermonitor.config import Config, PlugConfig, import_devices, load_config, save_config
from powermonitor.models import mask_key

from .conftest import LAN_SPECS, Lan, cli_env, wizard, wizard_async
from .fakes import CLIENT_ID, SECRET, FakeDevice, FakeOpenApi, plug_status, serving

KETTLE, FRIDGE = LAN_SPECS


def cloud_devices() -> list[FakeDevice]:
    return [
        FakeDevice(KETTLE.device_id, "Kettle", KETTLE.local_key, status=plug_status()),
        FakeDevice(FRIDGE.device_id, "Fridge", FRIDGE.local_key, status=plug_status(scale=2)),
        FakeDevice("bf0000000000000000c3", "Bulb", "0123456789abcdef", category="dj",
                   status=[{"code": "switch_led", "dp_id": 20, "type": "Boolean",
                            "values": "{}"}]),
        FakeDevice("bf0000000000000000d4", "Sensor", "abcdef0123456789", sub=True),
        FakeDevice("bf0000000000000000e5", "Old plug", "fedcba9876543210", status=None),
    ]


@pytest.fixture
def fake() -> Iterator[FakeOpenApi]:
    with serving(FakeOpenApi(cloud_devices())) as server:
        yield server


def base_args(fake: FakeOpenApi, config: Path, *more: str) -> list[str]:
    return ["wizard", "openapi", "--base-url", fake.url, "--config", str(config), *more]


def env() -> dict[str, str]:
    return cli_env(POWERMONITOR_CLOUD_ID=CLIENT_ID, POWERMONITOR_CLOUD_SECRET=SECRET)


def unexpected(fake: FakeOpenApi) -> list[str]:
    """Errors the fake sent, less the 2009 of the device that has no DPs."""
    return [e for e in fake.errors_sent if e != "specs:2009"]


def assert_no_secrets(text: str, fake: FakeOpenApi) -> None:
    for secret in [SECRET, *[d.local_key for d in fake.devices], *fake.tokens,
                   *fake.refresh_tokens]:
        assert secret not in text


async def test_scan_adds_plugs_that_then_answer(fake: FakeOpenApi, lan: Lan,
                                                tmp_path: Path) -> None:
    config, devices_json = tmp_path / "config.toml", tmp_path / "devices.json"
    result = await wizard_async(*base_args(fake, config, "--devices-json", str(devices_json)),
                                *lan.scan_args(), env=env())
    assert result.returncode == 0, result.stderr
    loaded = load_config(config)
    assert sorted(p.name for p in loaded.plugs) == ["Fridge", "Kettle"]
    for spec in LAN_SPECS:
        plug = loaded.plug(spec.device_id)
        server = next(s for s in lan.fleet.servers if s.plug.device_id == spec.device_id)
        assert (plug.local_key, plug.version, plug.host, plug.port) == (
            spec.local_key, spec.version, "127.0.0.1", server.port)
    assert {p.product_id for p in loaded.plugs} == {"fakeprod01"}
    fridge = loaded.plug("Fridge")
    assert fridge.mapping is not None and fridge.mapping.power is not None
    assert fridge.mapping.power.scale == 2
    out = result.stdout
    assert "+ Kettle" in out and "+ Fridge" in out
    assert "- Bulb: its data points have no power readings" in out
    assert "- Sensor: a sub-device of a gateway" in out
    assert "- Old plug: no LAN address yet" in out
    assert mask_key(KETTLE.local_key) in out
    assert_no_secrets(result.stdout + result.stderr, fake)
    # Both list endpoints were paged (5 devices, 2 per page), every request signed and checked.
    assert fake.calls.count("associated") == 3 and fake.calls.count("iot03") == 3
    assert fake.signatures_checked == len(fake.calls) and unexpected(fake) == []

    entries = json.loads(devices_json.read_text())
    assert [e["id"] for e in entries] == [d.device_id for d in fake.devices]
    assert entries[0]["key"] == KETTLE.local_key and entries[0]["product_id"] == "fakeprod01"
    assert entries[0]["mapping"]["19"]["code"] == "cur_power"
    assert "mapping" not in entries[4]  # 2009: no DPs in the cloud
    assert devices_json.stat().st_mode & 0o077 == 0
    imported = import_devices(devices_json)  # `powermonitor devices import` reads it back
    assert {p.device_id: p.local_key for p in imported.plugs} == {
        s.device_id: s.local_key for s in LAN_SPECS}

    # The keys really are the plugs' keys: a reading comes back through the written config.
    async with Plug.from_info(loaded.plug("Kettle").device_info()) as kettle:
        reading = await kettle.status()
    assert reading.power_w is not None and reading.power_w > 1000

    # tinytuya finds the key in our devices.json by itself (local_key=None) and reads the plug.
    fridge_port = loaded.plug("Fridge").port
    code = (f"import json, tinytuya; d = tinytuya.OutletDevice({FRIDGE.device_id!r}, "
            f"'127.0.0.1', None, version=3.3, port={fridge_port}); "
            "print(json.dumps(d.status()))")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE)
    stdout, _err = await asyncio.wait_for(proc.communicate(), 60)
    assert "19" in json.loads(stdout)["dps"]


def existing_config(path: Path) -> Config:
    config = Config(path=path, plugs=(
        PlugConfig("kitchen kettle", KETTLE.device_id, "192.168.1.40", "oldkeyoldkey1234",
                   "3.4", poll_interval=30.0),
        PlugConfig("tv", "bf00000000000000ffff", "192.168.1.41", "tvkeytvkeytvkey1", "3.3"),
        PlugConfig("fridge", FRIDGE.device_id, "192.168.1.42", FRIDGE.local_key, "3.3"),
    ))
    save_config(config, path)
    return config


def test_key_changed_is_reported_and_nothing_removed(fake: FakeOpenApi, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    existing_config(config)
    result = wizard(*base_args(fake, config, "--device-id", KETTLE.device_id), env=env())
    assert result.returncode == 0, result.stderr
    assert (f"~ kitchen kettle: key changed for kitchen kettle "
            f"({mask_key('oldkeyoldkey1234')} → {mask_key(KETTLE.local_key)})") in result.stdout
    assert "~ fridge: product id (none) → fakeprod01, DP mapping from the cloud" in result.stdout
    loaded = load_config(config)
    assert [p.name for p in loaded.plugs] == ["kitchen kettle", "tv", "fridge"]
    kettle = loaded.plug("kitchen kettle")
    assert kettle.local_key == KETTLE.local_key
    assert (kettle.host, kettle.poll_interval) == ("192.168.1.40", 30.0)  # user's fields kept
    assert kettle.mapping is not None  # it had none: the cloud's is filled in
    assert kettle.product_id == "fakeprod01"
    assert loaded.plug("tv").local_key == "tvkeytvkeytvkey1"
    # --device-id: the device names the app user, whose list is read.
    assert fake.calls[:3] == ["token", "device", "user_devices"] and "iot03" in fake.calls
    assert "associated" not in fake.calls
    assert_no_secrets(result.stdout + result.stderr, fake)
    # A second run changes nothing and does not rewrite the file.
    before = config.read_bytes()
    again = wizard(*base_args(fake, config, "--device-id", KETTLE.device_id), env=env())
    assert again.returncode == 0, again.stderr
    assert "= kitchen kettle" in again.stdout and "= fridge" in again.stdout
    assert "config written" not in again.stderr and config.read_bytes() == before


def test_dry_run_writes_nothing(fake: FakeOpenApi, tmp_path: Path) -> None:
    config, devices_json = tmp_path / "config.toml", tmp_path / "devices.json"
    existing_config(config)
    before = config.read_bytes()
    result = wizard(*base_args(fake, config, "--dry-run", "--devices-json", str(devices_json)),
                    env=env())
    assert result.returncode == 0, result.stderr
    assert "key changed for kitchen kettle" in result.stdout
    assert "dry run" in result.stderr
    assert config.read_bytes() == before and not devices_json.exists()


def test_keys_missing_from_first_list_come_from_the_second(tmp_path: Path) -> None:
    fake = FakeOpenApi(cloud_devices())
    fake.keyless_in_first_list = {KETTLE.device_id, FRIDGE.device_id}
    with serving(fake):
        devices_json = tmp_path / "devices.json"
        result = wizard(*base_args(fake, tmp_path / "c.toml", "--devices-json",
                                   str(devices_json)), env=env())
    assert result.returncode == 0, result.stderr
    keys = {e["id"]: e["key"] for e in json.loads(devices_json.read_text())}
    assert keys[KETTLE.device_id] == KETTLE.local_key
    assert keys[FRIDGE.device_id] == FRIDGE.local_key


def test_rejected_token_is_refreshed_and_the_call_retried_once(fake: FakeOpenApi,
                                                               tmp_path: Path) -> None:
    fake.fail["associated"] = ["1010"]
    fake.fail["specs"] = ["1011"]
    result = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run"), env=env())
    assert result.returncode == 0, result.stderr
    assert unexpected(fake) == ["associated:1010", "specs:1011"]
    assert fake.refreshes == 2 and fake.grants == 1


def test_token_near_expiry_is_refreshed_before_use(tmp_path: Path) -> None:
    with serving(FakeOpenApi(cloud_devices(), expire_time=30)) as fake:
        result = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run"), env=env())
    assert result.returncode == 0, result.stderr
    # Every token lives 30 s (< the 60 s margin): each business call after the first (which
    # uses the token just granted) refreshes first.
    business = [c for c in fake.calls if c not in ("token", "refresh")]
    assert fake.grants == 1 and fake.refreshes == len(business) - 1 and unexpected(fake) == []


def test_refused_refresh_falls_back_to_a_new_token(fake: FakeOpenApi, tmp_path: Path) -> None:
    fake.fail["associated"] = ["1010"]
    fake.fail["refresh"] = ["1012"]
    result = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run"), env=env())
    assert result.returncode == 0, result.stderr
    assert fake.grants == 2


def test_clock_skew_is_corrected_from_the_server_time(tmp_path: Path) -> None:
    with serving(FakeOpenApi(cloud_devices())) as fake:
        fake.clock_offset_ms = 10 * 60 * 1000
        result = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run"), env=env())
    assert result.returncode == 0, result.stderr
    assert unexpected(fake) == ["token:1013"]


@pytest.mark.parametrize(("label", "codes", "expected"), [
    ("token", ["2007"], "cross-region access is not allowed"),
    ("token", ["1013", "1013"], "clock is off"),
    ("token", ["28841107"], "data center is suspended: remove the data center"),
    ("associated", ["1106"], "wrong data center"),
    ("associated", ["28841001"], "IoT Core subscription has probably expired"),
    ("associated", ["28841002"], "renew the IoT Core service"),
    ("associated", ["28841105"], "not authorised for this API"),
    ("associated", ["1010", "1010"], "token expired, and a fresh token was refused"),
    ("associated", ["1011", "1011"], "token invalid, and a fresh token was refused"),
    ("associated", ["1234"], "Tuya cloud error 1234: linked devices: injected"),
])
def test_each_cloud_error_is_one_clear_line(fake: FakeOpenApi, tmp_path: Path, label: str,
                                            codes: list[str], expected: str) -> None:
    fake.fail[label] = list(codes)
    config = tmp_path / "c.toml"
    result = wizard(*base_args(fake, config), env=env())
    assert result.returncode == 11, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: Tuya cloud error {codes[0]}") and expected in lines[-1]
    assert "Traceback" not in result.stderr and not config.exists()


def test_wrong_device_id_is_permission_denied(fake: FakeOpenApi, tmp_path: Path) -> None:
    result = wizard(*base_args(fake, tmp_path / "c.toml", "--device-id",
                               "bf00000000000000dead"), env=env())
    assert result.returncode == 11
    assert "error: Tuya cloud error 1106: device lookup: permission denied" in result.stderr


def test_wrong_secret_is_sign_invalid(fake: FakeOpenApi, tmp_path: Path) -> None:
    result = wizard(*base_args(fake, tmp_path / "c.toml"),
                    env=cli_env(POWERMONITOR_CLOUD_ID=CLIENT_ID,
                                POWERMONITOR_CLOUD_SECRET="not-the-secret-0123456789abcdef"))
    assert result.returncode == 11
    assert "1004" in result.stderr and "Access Secret is wrong" in result.stderr
    assert fake.signatures_checked == 0


def test_old_signing(tmp_path: Path) -> None:
    with serving(FakeOpenApi(cloud_devices(), old_signing=True)) as fake:
        refused = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run"), env=env())
        accepted = wizard(*base_args(fake, tmp_path / "c.toml", "--dry-run", "--old-signing"),
                          env=env())
    assert refused.returncode == 11 and "--old-signing" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_debug_output_never_shows_secrets(fake: FakeOpenApi, tmp_path: Path) -> None:
    fake.fail["associated"] = ["1010"]  # exercise the refresh path's logging too
    result = wizard("--debug", "-vv", *base_args(fake, tmp_path / "c.toml", "--dry-run"),
                    env=env(), process=True)
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr  # logging was really on
    assert_no_secrets(result.stdout + result.stderr, fake)


def test_unreachable_cloud(tmp_path: Path, refused_port: int) -> None:
    url = f"http://127.0.0.1:{refused_port}"
    result = wizard("wizard", "openapi", "--base-url", url, "--config", str(tmp_path / "c"),
                    env=env())
    assert result.returncode == 11 and "cannot reach the Tuya cloud" in result.stderr


def test_empty_account_says_what_to_check(tmp_path: Path) -> None:
    with serving(FakeOpenApi([])) as fake:
        result = wizard(*base_args(fake, tmp_path / "c.toml"), env=env())
    assert result.returncode == 11 and "lists no devices" in result.stderr


def test_secret_prompt_does_not_echo(fake: FakeOpenApi, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, base_args(fake, tmp_path / "c.toml", "--dry-run",
                                          "--access-id", CLIENT_ID),
                           input=SECRET + "\n", env={"POWERMONITOR_CLOUD_SECRET": ""})
    assert result.exit_code == 0, result.output
    assert "Access Secret:" in result.output and SECRET not in result.output
    assert fake.signatures_checked > 0


def test_unknown_region_is_a_usage_error(tmp_path: Path) -> None:
    result = wizard("wizard", "openapi", "--region", "mars", "--access-id", "x",
                    "--access-secret", "y", "--config", str(tmp_path / "c"), env=cli_env())
    assert result.returncode == 2 and "unknown region 'mars'" in result.stderr


def test_device_id_cannot_change_the_request_path(fake: FakeOpenApi, tmp_path: Path) -> None:
    result = wizard(*base_args(fake, tmp_path / "c.toml", "--device-id", "../token?x=1"),
                    env=env())
    assert result.returncode == 2 and "not a Tuya device id" in result.stderr
    assert "device" not in fake.calls
