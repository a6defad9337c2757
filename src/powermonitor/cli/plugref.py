"""A plug named on the command line: NAME (or id) from the config, or ID IP [KEY] [VERSION].

``poll``, ``switch`` and ``doctor`` take the same forms, so they share this one resolver: with
an IP the plug is given directly (as ``poll`` always took it); without one, the first argument
is a configured plug's name or id.
"""

from __future__ import annotations

from pathlib import Path

from ..config import PlugConfig, load_config
from ..errors import UsageError
from .options import require_config

__all__ = ["configured_plug"]


def configured_plug(config_path: Path | None, name_or_id: str) -> PlugConfig:
    """The configured plug ``name_or_id``; a UsageError that lists the known names otherwise."""
    require_config(config_path)
    config = load_config(config_path)
    try:
        return config.plug(name_or_id)
    except KeyError:
        names = ", ".join(p.name or p.device_id for p in config.plugs[:10])
        more = f" (configured: {names})" if names else " (none configured: `powermonitor " \
            "devices add` or `devices import`)"
        raise UsageError(f"no plug named {name_or_id!r} in {config.path or 'the config'}"
                         f"{more}; or give ID IP [KEY] [VERSION]") from None
