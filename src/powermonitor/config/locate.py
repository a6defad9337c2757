"""Where the configuration file is: ``--config PATH``, else ``$POWERMONITOR_CONFIG``, else
``config.toml`` in the user's config dir (``$XDG_CONFIG_HOME/powermonitor``,
``~/.config/powermonitor``). A missing file is an empty configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["CONFIG_ENV", "default_config_path", "resolve_path"]

CONFIG_ENV: Final = "POWERMONITOR_CONFIG"


def default_config_path() -> Path:
    """``$POWERMONITOR_CONFIG``, else ``$XDG_CONFIG_HOME/powermonitor/config.toml``, else
    ``~/.config/powermonitor/config.toml`` (a relative or empty XDG_CONFIG_HOME is ignored, as
    the XDG spec says)."""
    explicit = os.environ.get(CONFIG_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "powermonitor" / "config.toml"


def resolve_path(path: Path | str | os.PathLike[str] | None) -> Path:
    """``path`` (``~`` expanded), or the default location when None."""
    return default_config_path() if path is None else Path(path).expanduser()
