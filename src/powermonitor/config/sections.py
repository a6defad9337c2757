"""Every section besides ``[defaults]`` and ``[[plugs]]``: read into typed settings, with the
environment overrides applied here and nowhere else, and shown back (``config show``).

Environment variables win over the file (they are how a container or a systemd unit passes
secrets and addresses); the CLI flags of ``run`` win over both:

=============================  =====================================
``POWERMONITOR_DB``            ``[storage] db``
``POWERMONITOR_LISTEN``        ``[web] listen``
``POWERMONITOR_METRICS_LISTEN`` ``[prometheus] listen``
``POWERMONITOR_MQTT_URL``      ``[mqtt] url`` (switches MQTT on)
``POWERMONITOR_MQTT_PASSWORD`` ``[mqtt] password``
``POWERMONITOR_INFLUX_URL``    ``[influx] url`` (switches InfluxDB on)
``POWERMONITOR_INFLUX_TOKEN``  ``[influx] token``
``POWERMONITOR_INFLUX_PASSWORD`` ``[influx] password``
=============================  =====================================

Each parser raises :class:`~.fields.FieldError` (located in the file by the caller) for a value
from the file, and :class:`~powermonitor.errors.ConfigError` naming the variable for a value
from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from ..models import redact_url
from ..storage.base import DEFAULT_RETENTION, Retention
from ..tariff import Tariff
from . import fields as f
from .fields import FieldError, Table
from .model import (
    EnergySettings,
    InfluxSettings,
    MqttSettings,
    PrometheusSettings,
    StorageSettings,
    WebSettings,
)

__all__ = [
    "ENV",
    "SECTIONS",
    "energy_settings",
    "influx_settings",
    "mqtt_settings",
    "prometheus_settings",
    "storage_settings",
    "tariff_settings",
    "web_settings",
]

ENV: Final = {
    "db": "POWERMONITOR_DB",
    "listen": "POWERMONITOR_LISTEN",
    "metrics_listen": "POWERMONITOR_METRICS_LISTEN",
    "mqtt_url": "POWERMONITOR_MQTT_URL",
    "mqtt_password": "POWERMONITOR_MQTT_PASSWORD",
    "influx_url": "POWERMONITOR_INFLUX_URL",
    "influx_token": "POWERMONITOR_INFLUX_TOKEN",
    "influx_password": "POWERMONITOR_INFLUX_PASSWORD",
}

Env = Mapping[str, str]


def _env(env: Env, name: str) -> str:
    return env.get(ENV[name], "").strip()


def _env_error(name: str, message: str) -> ConfigError:
    return ConfigError(f"environment variable {ENV[name]}: {message}")


# --------------------------------------------------------------------------- storage, energy

_STORAGE_KEYS: Final = ("db", "raw_days", "minute_days", "hour_days", "day_days", "commit_interval")
_RETENTION_KEYS: Final = _STORAGE_KEYS[1:5]
_MAX_DAYS: Final = 36_500.0


def storage_settings(table: object, env: Env) -> StorageSettings:
    """``[storage]``: ``db``, per-tier retention in days (``0`` or ``"forever"``: keep) and
    ``commit_interval`` in seconds."""
    section = Table("storage", table, _STORAGE_KEYS)
    days: dict[str, float | None] = {}
    for key in _RETENTION_KEYS:
        if not section.has(key):
            continue
        value = section.raw[key]
        if value == 0 or (isinstance(value, str) and value.strip().lower() == "forever"):
            days[key] = None
        else:
            days[key] = section.number(key, 0.0, 1 / 24, _MAX_DAYS, "days")
    db = _env(env, "db") or section.text("db")
    return StorageSettings(
        db=os.path.expanduser(db) if db and "://" not in db else db,
        retention=Retention(**days) if days else DEFAULT_RETENTION,
        commit_interval=section.number("commit_interval", 5.0, 0.1, 60.0, "s"),
    )


def energy_settings(table: object, env: Env) -> EnergySettings:
    """``[energy]``: ``method`` ("trapezoid" or "left") and ``max_gap`` in seconds."""
    section = Table("energy", table, ("method", "max_gap"))
    method = section.choice("method", "trapezoid", ("trapezoid", "left"))
    return EnergySettings(
        method="left" if method == "left" else "trapezoid",
        max_gap_s=section.optional_number("max_gap", 1.0, 7 * 86_400.0, "s"),
    )


# --------------------------------------------------------------------------- tariff

_TARIFF_KEYS: Final = ("currency", "timezone", "price", "daily_charge", "windows")
_WINDOW_KEYS: Final = ("days", "start", "end", "price")
_WINDOW_NUMBER: Final = re.compile(r"\[\[tariff\.windows\]\] #(\d+)")


def tariff_settings(table: object, env: Env) -> Tariff | None:
    """``[tariff]`` through :meth:`Tariff.from_config`, with keys checked here first; None
    without the section."""
    if table is None:
        return None
    section = Table("tariff", table, _TARIFF_KEYS)
    windows = section.raw.get("windows", [])
    if isinstance(windows, list):
        for number, window in enumerate(windows, 1):
            if isinstance(window, Mapping):
                f.check_keys(window, _WINDOW_KEYS, f"[[tariff.windows]] #{number}",
                             f"windows[{number - 1}].")
    try:
        return Tariff.from_config(section.raw)
    except ConfigError as exc:
        window = _WINDOW_NUMBER.search(exc.reason)
        keys = _WINDOW_KEYS if window else _TARIFF_KEYS
        key = next((k for k in keys if k in exc.reason.split("]", 2)[-1]), "")
        if window:
            key = f"windows[{int(window[1]) - 1}].{key}"
        raise FieldError(key, exc.reason) from None


# --------------------------------------------------------------------------- web, prometheus

def _host_name(key: str, value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not name or any(ch in name for ch in "/@ \t") or name.count(":") == 1:
        raise FieldError(key, f"[web] {key!r} takes host names such as \"power.lan\" (no "
                              f"scheme, path or port), not {value!r}")
    return name


def web_settings(table: object, env: Env) -> WebSettings:
    """``[web]``: ``listen`` (HOST:PORT or "off") and ``allowed_hosts``."""
    section = Table("web", table, ("listen", "allowed_hosts"))
    listen = WebSettings().listen
    if _env(env, "listen"):
        listen = _env_listen(env, "listen")
    elif section.has("listen"):
        listen = section.listen("listen")
    hosts = tuple(_host_name("allowed_hosts", h) for h in section.strings("allowed_hosts"))
    return WebSettings(listen=listen, allowed_hosts=hosts)


def _env_listen(env: Env, name: str) -> tuple[str, int] | None:
    value = _env(env, name)
    if value.lower() in f.OFF:
        return None
    try:
        return f.parse_listen(value, ENV[name])
    except FieldError as exc:
        raise _env_error(name, exc.message) from None


def prometheus_settings(table: object, env: Env) -> PrometheusSettings:
    """``[prometheus]``: ``listen`` (an own /metrics server) and ``web`` (/metrics on the
    dashboard's server)."""
    section = Table("prometheus", table, ("listen", "web"))
    listen = _env_listen(env, "metrics_listen") if _env(env, "metrics_listen") else (
        section.listen("listen"))
    return PrometheusSettings(listen=listen, web=section.flag("web", True))


# --------------------------------------------------------------------------- mqtt

MQTT_KEYS: Final = (
    "enabled", "url", "username", "password", "client_id", "topic_prefix", "discovery",
    "discovery_prefix", "ca_file", "cert_file", "key_file", "tls_insecure", "qos", "state_qos",
    "state_interval", "keepalive", "birth_delay",
)


def _topic(section: Table, key: str, default: str) -> str:
    value = section.text(key, default).strip("/")
    if not value or any(ch in value for ch in "+#\0"):
        raise section.error(key, f"must be a topic without wildcards (got {value!r})")
    return value


def _existing_file(section: Table, key: str) -> str | None:
    path = section.text(key)
    if not path:
        return None
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise section.error(key, f"names a file that does not exist: {path!r}")
    return path


def mqtt_settings(table: object, env: Env) -> MqttSettings | None:
    """``[mqtt]`` plus the environment; None when MQTT is off.

    On when a URL is given, in the table (``url``) or in ``POWERMONITOR_MQTT_URL`` (which
    wins), unless ``enabled = false``. ``POWERMONITOR_MQTT_PASSWORD`` keeps the password out
    of the file.
    """
    section = Table("mqtt", table, MQTT_KEYS)
    from_env = bool(_env(env, "mqtt_url"))
    url = _env(env, "mqtt_url") or section.text("url")
    if not section.flag("enabled", True):
        return None
    if not url:
        if section:
            raise section.error("url", 'is missing: set url = "mqtt://HOST:1883" (or the '
                                f"{ENV['mqtt_url']} environment variable)")
        return None

    def bad(message: str) -> Exception:
        return _env_error("mqtt_url", message) if from_env else section.error("url", message)

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(f"is not a valid URL ({exc}): {redact_url(url)!r}") from None
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl", "tls"):
        raise bad(f"must start with mqtt:// or mqtts:// (got {redact_url(url)!r})")
    if not parts.hostname:
        raise bad(f"has no host name: {redact_url(url)!r}")
    if parts.path not in ("", "/") or parts.query:
        raise bad(f"must be mqtt://[user:password@]host[:port], without a path "
                  f"(got {redact_url(url)!r}); set topics with topic_prefix")
    tls = parts.scheme in ("mqtts", "ssl", "tls")
    username = section.text("username") or (unquote(parts.username) if parts.username else None)
    password = (
        env.get(ENV["mqtt_password"]) or section.text("password")
        or (unquote(parts.password) if parts.password else None)
    )
    files = {key: _existing_file(section, key) for key in ("ca_file", "cert_file", "key_file")}
    if (files["ca_file"] or files["cert_file"]) and not tls:
        raise section.error("ca_file", "and cert_file need a TLS URL: mqtts://host:8883")
    if files["key_file"] and not files["cert_file"]:
        raise section.error("key_file", "needs cert_file (the client certificate)")
    return MqttSettings(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=username or None,
        password=password or None,
        client_id=section.text("client_id") or None,
        topic_prefix=_topic(section, "topic_prefix", "powermonitor"),
        discovery=section.flag("discovery", True),
        discovery_prefix=_topic(section, "discovery_prefix", "homeassistant"),
        ca_file=files["ca_file"],
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        tls_insecure=section.flag("tls_insecure", False),
        qos=section.integer("qos", 1, 0, 2),
        state_qos=section.integer("state_qos", 0, 0, 2),
        state_interval=section.number("state_interval", 5.0, 0.0, 3600.0, "s"),
        keepalive=section.integer("keepalive", 30, 5, 3600),
        birth_delay=section.number("birth_delay", 2.0, 0.0, 60.0, "s"),
    )


# --------------------------------------------------------------------------- influx

INFLUX_KEYS: Final = (
    "enabled", "url", "api", "database", "retention_policy", "username", "password", "org",
    "bucket", "token", "measurement", "batch_size", "flush_interval", "max_buffer", "timeout",
    "gzip", "ca_file", "verify_tls",
)


def influx_settings(table: object, env: Env) -> InfluxSettings | None:
    """``[influx]`` plus the environment; None when InfluxDB is off.

    On when ``url`` (or ``POWERMONITOR_INFLUX_URL``, which wins) is set, unless
    ``enabled = false``. ``api`` defaults to v2 when ``bucket`` or ``org`` is set, else v3 when
    a token is set, else v1.
    """
    section = Table("influx", table, INFLUX_KEYS)
    from_env = bool(_env(env, "influx_url"))
    url = _env(env, "influx_url") or section.text("url")
    if not section.flag("enabled", True):
        return None
    if not url:
        if section:
            raise section.error("url", 'is missing: set url = "http://HOST:8086" (or the '
                                f"{ENV['influx_url']} environment variable)")
        return None

    def bad(message: str) -> Exception:
        return _env_error("influx_url", message) if from_env else section.error("url", message)

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise bad(f"is not a valid URL ({exc}): {redact_url(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad(f"must be http://HOST:PORT or https://… (got {redact_url(url)!r})")
    if "@" in parts.netloc:
        raise bad("must not hold credentials: put credentials in username/password or token, "
                  "not in the url")
    token = _env(env, "influx_token") or section.text("token")
    password = env.get(ENV["influx_password"], "") or section.text("password")
    org, bucket = section.text("org"), section.text("bucket")
    default_api = "v2" if (org or bucket) else ("v3" if token else "v1")
    api = section.choice("api", default_api, ("v1", "v2", "v3"))
    database = section.text("database")
    if api == "v2":
        for key, value in (("org", org), ("bucket", bucket)):
            if not value:
                raise section.error(key, "is required for api = \"v2\"")
        if not token:
            raise section.error("token", f"is required for api = \"v2\" (or set "
                                         f"{ENV['influx_token']})")
    elif not database:
        raise section.error("database", f"is required for api = \"{api}\"")
    username = section.text("username")
    if username and api != "v1":
        raise section.error("username", "is only used with api = \"v1\"; v2/v3 use token")
    measurement = section.text("measurement", "powermonitor")
    if not measurement:
        raise section.error("measurement", "must not be empty")
    return InfluxSettings(
        url=url,
        api=api,
        database=database,
        retention_policy=section.text("retention_policy"),
        username=username,
        password=password,
        org=org,
        bucket=bucket,
        token=token,
        measurement=measurement,
        batch_size=section.integer("batch_size", 500, 1, 100_000),
        flush_interval=section.number("flush_interval", 5.0, 0.05, 3600.0, "s"),
        max_buffer=section.integer("max_buffer", 100_000, 1, 10_000_000),
        timeout=section.number("timeout", 10.0, 0.1, 300.0, "s"),
        gzip=section.flag("gzip", False),
        ca_file=_existing_file(section, "ca_file") or "",
        verify_tls=section.flag("verify_tls", True),
    )


Parser = Callable[[object, Env], Any]

SECTIONS: Final[Mapping[str, Parser]] = {
    "storage": storage_settings,
    "energy": energy_settings,
    "tariff": tariff_settings,
    "web": web_settings,
    "prometheus": prometheus_settings,
    "mqtt": mqtt_settings,
    "influx": influx_settings,
}
"""Section name → parser; every parser also runs without its section (environment only)."""


# --------------------------------------------------------------------------- showing

_SECRET: Final = "***"


def _plain(settings: Any, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclass_fields(settings):
        value = getattr(settings, item.name)
        if value is None or value == "":
            continue
        out[item.name] = _SECRET if item.name in secrets else value
    return out


def shown(name: str, settings: Any, source: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Section ``name`` as ``config show`` prints it: defaults filled, secrets masked."""
    if settings is None:
        return None
    if isinstance(settings, StorageSettings):
        retention = {item.name: getattr(settings.retention, item.name)
                     for item in dataclass_fields(settings.retention)}
        retention = {k: "forever" if v is None else v for k, v in retention.items()}
        return {"db": redact_url(settings.db) if settings.db else "(default)", **retention,
                "commit_interval": settings.commit_interval}
    if isinstance(settings, EnergySettings):
        return {"method": settings.method,
                "max_gap": settings.max_gap_s if settings.max_gap_s is not None else "auto"}
    if isinstance(settings, WebSettings):
        return {"listen": f.format_listen(settings.listen),
                "allowed_hosts": list(settings.allowed_hosts)}
    if isinstance(settings, PrometheusSettings):
        return {"listen": f.format_listen(settings.listen), "web": settings.web}
    if isinstance(settings, MqttSettings):
        out = _plain(settings, ("password",))
        out.pop("host"), out.pop("port"), out.pop("tls")
        return {"url": settings.url, **out}
    if isinstance(settings, InfluxSettings):
        return _plain(settings, ("password", "token"))
    if isinstance(settings, Tariff):
        table = dict(source or {})
        table.setdefault("currency", settings.currency)
        table["timezone"] = settings.timezone
        return table
    raise TypeError(f"no display for section {name!r}")  # pragma: no cover - programming error
