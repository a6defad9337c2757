"""What the config tests share: sample keys, an isolated home, a config file writer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

KEY_A = "0123456789abcdef"
KEY_B = "fedcba9876543210"
KEY_C = "Zq7!xY2#pL9$wR4&"
ALL_KEYS = (KEY_A, KEY_B, KEY_C)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("POWERMONITOR_CONFIG", raising=False)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_no_key(text: str) -> None:
    for key in ALL_KEYS:
        assert key not in text
