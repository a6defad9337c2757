"""A plug named on the command line: NAME (or id) from the config, or ID IP [KEY] [VERSION].

``poll``, ``switch`` and ``doctor`` take the same forms, so they share this one resolver: with
an IP (argument or ``PLUGIP``) the plug is given directly, as ``poll`` always took it; without
one, the first argument is a configured plug's name or id, read with its mapping and product id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, PlugConfig, load_config, missing_key_message, needs_key
from ..dps import DpMapping
from ..errors import MissingKeyError, PowermonitorError, UsageError
from ..models import DeviceInfo
from ..protocol.versions import normalize_version
from .options import require_config

__all__ = ["ENV_ID", "ENV_IP", "ENV_KEY", "ENV_VERSION", "PlugTarget", "configured_plug",
           "resolve_plug", "resolve_target"]

ENV_ID, ENV_IP, ENV_KEY = "PLUGID", "PLUGIP", "PLUGKEY"
ENV_VERSION = ("PLUGINVERS", "PLUGVERS")


def resolve_target(
    device_id: str | None, ip: str | None, key: str | None, version: str | None, port: int
) -> DeviceInfo:
    """Merge positional arguments with the PLUG* environment variables; validate."""
    device_id = device_id or os.environ.get(ENV_ID, "")
    ip = ip or os.environ.get(ENV_IP, "")
    key = key if key is not None else os.environ.get(ENV_KEY, "")
    if version is None:
        version = next((os.environ[v] for v in ENV_VERSION if os.environ.get(v)), "auto")
    if not device_id or not ip:
        raise UsageError(
            "give the plug's DEVICE_ID and IP (arguments, or PLUGID and PLUGIP in the environment)"
        )
    version = normalize_version(version)
    if key and len(key) != 16:
        raise UsageError(f"the local key must be exactly 16 characters (got {len(key)})")
    if needs_key(key or "", version):
        raise UsageError(f"protocol {version} needs the plug's 16-character local key")
    return DeviceInfo(device_id=device_id, host=ip, local_key=key, version=version, port=port)


@dataclass(frozen=True, slots=True)
class PlugTarget:
    info: DeviceInfo
    mapping: DpMapping | None = None
    product_id: str = ""
    configured: bool = False
    service_dir: Path | None = None
    """Where a running ``powermonitor run`` for this config keeps its record (via_service)."""


def configured_plug(config_path: Path | None, name_or_id: str,
                    config: Config | None = None) -> PlugConfig:
    """The configured plug ``name_or_id``; a UsageError that lists the known names otherwise."""
    if config is None:
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


def resolve_plug(
    first: str | None, ip: str | None, key: str | None, version: str | None, port: int,
    config_path: Path | None, db: str | None = None,
) -> PlugTarget:
    """The plug the arguments name (see the module docstring)."""
    from .via_service import service_dir  # via_service → run → ... imports stay one-way

    if first and ip is None and not os.environ.get(ENV_IP):
        require_config(config_path)
        config = load_config(config_path)
        where: Path | None = service_dir(config, db)
        plug = configured_plug(config_path, first, config)
        if needs_key(plug.local_key, plug.version):
            raise MissingKeyError(missing_key_message(plug.name, plug.version))
        info = DeviceInfo(plug.device_id, plug.host, plug.local_key, plug.version, plug.port,
                          plug.name)
        return PlugTarget(info, plug.mapping, plug.product_id, configured=True, service_dir=where)
    info = resolve_target(first, ip, key, version, port)
    try:  # given directly: a config is optional, only to find a running service
        where = service_dir(load_config(config_path), db)
    except PowermonitorError:
        where = None
    return PlugTarget(info, service_dir=where)
