"""``powermonitor wizard qr`` end to end against a fake Smart Life login + sharing API.

Covered: the login calls (ours, httpx), the QR shown, polling until confirmed / timeout, and
every business call made through tuya-device-sharing-sdk's real ``CustomerApi`` (AES-GCM
payloads, X-sign checked by the fake with its own code, the SDK's token refresh). Not covered:
the SDK's ``Manager`` and MQTT (we do not use them) and the real Tuya endpoints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from powermonitor.cloud.qr import qr_text, render_qr
from powermonitor.config import Config, PlugConfig, load_config, save_config
from powermonitor.models import mask_key

from .conftest import LAN_SPECS, Lan, cli_env, wizard, wizard_async
from .fakes import FakeDevice, FakeSharing, QrAccount, plug_status, serving

KETTLE, FRIDGE = LAN_SPECS
USER_CODE = "EU1234567"



def account() -> QrAccount:
    return QrAccount(user_code=USER_CODE, homes={
        "1001": [FakeDevice(KETTLE.device_id, "Kettle", KETTLE.local_key, status=plug_status())],
        "1002": [FakeDevice(FRIDGE.device_id, "Fridge", FRIDGE.local_key, status=None),
                 FakeDevice("bf0000000000000000d4", "Sensor", "abcdef0123456789", sub=True)],
    })


@pytest.fixture
def fake() -> Iterator[FakeSharing]:
    with serving(FakeSharing(account(), confirm_after=3)) as server:
        yield server


def args(fake: FakeSharing, config: Path, *more: str) -> list[str]:
    return ["wizard", "qr", "--base-url", fake.url, "--config", str(config),
            "--user-code", USER_CODE, "--poll-interval", "0.01", *more]


def secrets(fake: FakeSharing) -> list[str]:
    return [KETTLE.local_key, FRIDGE.local_key, *fake.access, *fake.access.values()]


@pytest.mark.slow
async def test_qr_login_scan_and_config(fake: FakeSharing, lan: Lan, tmp_path: Path) -> None:
    config, devices_json = tmp_path / "config.toml", tmp_path / "devices.json"
    result = await wizard_async(*args(fake, config, "--devices-json", str(devices_json)),
                                *lan.scan_args())
    assert result.returncode == 0, result.stderr
    # The QR shown encodes tuyaSmart--qrLogin?token=<the token the server issued>.
    [token] = fake.qr_tokens
    assert render_qr(qr_text(token)) in result.stdout
    assert fake.qr_tokens[token] == 3  # polled until confirmed, then stopped
    loaded = load_config(config)
    assert {p.device_id: p.local_key for p in loaded.plugs} == {
        KETTLE.device_id: KETTLE.local_key, FRIDGE.device_id: FRIDGE.local_key}
    kettle = loaded.plug(KETTLE.device_id)
    assert kettle.mapping is not None and kettle.mapping.power is not None
    assert loaded.plug(FRIDGE.device_id).mapping is None  # 2009: detected at run time
    assert "- Sensor: a sub-device of a gateway" in result.stdout
    entries = {e["id"]: e for e in json.loads(devices_json.read_text())}
    assert entries[KETTLE.device_id]["key"] == KETTLE.local_key
    assert entries[KETTLE.device_id]["ip"] == "127.0.0.1"
    assert fake.bad_signatures == 0 and fake.signatures_checked >= 4
    output = result.stdout + result.stderr
    assert all(secret not in output for secret in secrets(fake))


def test_sdk_token_refresh_and_key_change(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    save_config(Config(path=config, plugs=(
        PlugConfig("kettle", KETTLE.device_id, "192.168.1.40", "oldkeyoldkey1234", "3.4"),)),
        config)
    # A 30 s token is inside the SDK's 60 s margin: it refreshes before its first call, and
    # the fake accepts only the new token afterwards.
    with serving(FakeSharing(account(), confirm_after=1, expire_time=30)) as fake:
        result = wizard("--debug", *args(fake, config), process=True)
    assert result.returncode == 0, result.stderr
    assert fake.refreshes == 1 and fake.bad_signatures == 0
    assert (f"key changed for kettle ({mask_key('oldkeyoldkey1234')} → "
            f"{mask_key(KETTLE.local_key)})") in result.stdout
    assert load_config(config).plug("kettle").local_key == KETTLE.local_key
    assert all(secret not in result.stdout + result.stderr for secret in secrets(fake))


def test_json_output(fake: FakeSharing, tmp_path: Path) -> None:
    result = wizard(*args(fake, tmp_path / "c.toml", "--json", "--dry-run"))
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout.strip().splitlines()[-1])
    assert {(c["kind"], c["name"]) for c in changes} == {
        ("skip", "Kettle"), ("skip", "Fridge"), ("skip", "Sensor")}


def test_unconfirmed_login_times_out(tmp_path: Path) -> None:
    with serving(FakeSharing(account(), confirm_after=10**9)) as fake:
        result = wizard(*args(fake, tmp_path / "c.toml", "--login-timeout", "1"))
    assert result.returncode == 11
    assert "not confirmed in the app within 1 s" in result.stderr
    assert "homes" not in fake.calls


def test_wrong_user_code(fake: FakeSharing, tmp_path: Path) -> None:
    result = wizard("wizard", "qr", "--base-url", fake.url, "--config", str(tmp_path / "c"),
                    "--user-code", "eu1234567")
    assert result.returncode == 11
    assert "check the User Code" in result.stderr and "case-sensitive" in result.stderr


def test_refused_client_id(fake: FakeSharing, tmp_path: Path) -> None:
    result = wizard(*args(fake, tmp_path / "c", "--client-id", "someone-else"))
    assert result.returncode == 11 and "--client-id" in result.stderr


@pytest.mark.parametrize(("label", "code", "expected"), [
    ("homes", "1106", "permission denied"),
    ("devices", "28841002", "expired"),
    ("specs", "1010", "Tuya cloud error 1010"),
])
def test_business_errors_are_one_line(fake: FakeSharing, tmp_path: Path, label: str,
                                      code: str, expected: str) -> None:
    fake.fail[label] = [code]
    result = wizard(*args(fake, tmp_path / "c.toml"))
    if label == "specs":  # one device's DP table missing is a note, not a failure
        assert result.returncode == 0, result.stderr
        assert re.search(r"note: no DP specifications for \w+: .*1010", result.stderr)
        return
    assert result.returncode == 11
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Tuya cloud error {code}") and expected in last
    assert "Traceback" not in result.stderr


def test_missing_extra_is_explained(tmp_path: Path, fake: FakeSharing) -> None:
    # Hide the SDK from the subprocess: what a user without the extra sees.
    shim = tmp_path / "shim"
    (shim / "tuya_sharing").mkdir(parents=True)
    (shim / "tuya_sharing" / "__init__.py").write_text("raise ImportError('hidden')\n")
    env = cli_env(PYTHONPATH=f"{shim}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = wizard(*args(fake, tmp_path / "c"), env=env, process=True)
    assert result.returncode == 2
    assert "pip install 'tuya-powermonitor[cloud]'" in result.stderr
    assert fake.calls == []  # said before any login, not after the user scanned


def test_plain_http_endpoint_is_refused_after_an_https_login(fake: FakeSharing) -> None:
    from powermonitor.cloud.errors import CloudError
    from powermonitor.cloud.qr import QrLogin

    login = QrLogin(fake.url)
    try:
        token = login.request_token(USER_CODE)
        fake.confirm_after = 1
        # As if the login server had been reached over https: its http endpoint is refused.
        login.base_url = "https://apigw.iotbing.com"
        with pytest.raises(CloudError, match="not https"):
            login.poll(token, USER_CODE)
    finally:
        login.close()
