"""The configuration as typed, frozen values: one dataclass per section of the file.

Everything here is already validated (see :mod:`.toml_io` and :mod:`.sections`): consumers
read attributes, never raw tables. Secrets (local keys, passwords, tokens) stay out of
``repr``. Every field has a default, so ``Config()`` is the empty configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ..dps import DpMapping
from ..errors import UsageError
from ..models import DeviceInfo, mask_key
from ..monitor.directory import resolve_id
from ..storage.base import DEFAULT_RETENTION, Retention
from ..tariff import Tariff
from .alerts import AlertConfig

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_PORT",
    "MAX_POLL_INTERVAL",
    "MIN_POLL_INTERVAL",
    "Config",
    "Defaults",
    "EnergySettings",
    "InfluxSettings",
    "MqttSettings",
    "PlugConfig",
    "PrometheusSettings",
    "StorageSettings",
    "WebSettings",
]

MIN_POLL_INTERVAL = 1.0
"""No plug is ever polled faster than once a second (real plugs hang or reset)."""
MAX_POLL_INTERVAL: Final = 86_400.0
DEFAULT_PORT: Final = 6668
DEFAULT_LISTEN: Final = ("127.0.0.1", 8000)
"""Where the dashboard listens unless ``--listen`` or ``[web] listen`` says otherwise."""


@dataclass(frozen=True, slots=True)
class Defaults:
    """``[defaults]``: what every plug gets unless its own entry says otherwise."""

    poll_interval: float = 10.0
    timeout: float = 5.0
    heartbeat_interval: float = 10.0
    refresh: bool | None = None  # send UPDATEDPS before polls: True/False, None = learn per plug

    def interval_for(self, plug: PlugConfig) -> float:
        """Seconds between polls of ``plug``: its own value or the default, never below 1 s.
        The one home of this rule (the coordinator, the recorder and the API all ask here)."""
        interval = plug.poll_interval if plug.poll_interval is not None else self.poll_interval
        return max(MIN_POLL_INTERVAL, interval)

    def refresh_for(self, plug: PlugConfig) -> bool | None:
        """Whether to ask ``plug`` to re-measure before polls (None: learn it per plug)."""
        return plug.refresh if plug.refresh is not None else self.refresh


@dataclass(frozen=True, slots=True)
class PlugConfig:
    """One ``[[plugs]]`` entry. ``local_key`` stays out of repr."""

    name: str
    device_id: str
    host: str
    local_key: str = field(default="", repr=False)
    version: str = "auto"
    port: int = DEFAULT_PORT
    poll_interval: float | None = None  # None: the defaults' value
    refresh: bool | None = None  # None: the defaults' value
    mapping: DpMapping | None = None
    mapping_source: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The mapping as written in the file (or imported), kept so it can be saved back."""
    product_id: str = ""
    """Tuya's product id (tinytuya ``product_id``, snapshot ``productKey``): picks a model
    profile. Empty when unknown."""

    @property
    def masked_key(self) -> str:
        return mask_key(self.local_key)

    def device_info(self) -> DeviceInfo:
        """How to reach this plug, for :class:`~powermonitor.client.plug.Plug`."""
        return DeviceInfo(
            device_id=self.device_id, host=self.host, local_key=self.local_key,
            version=self.version, port=self.port, name=self.name,
        )


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """``[storage]``: the database (``db``: SQLite path or ``postgresql://`` URL; empty = the
    data-dir default), how long each tier is kept, and how often queued readings are committed
    (every 5 s, as Home Assistant's recorder: a plug's rollups are then updated once per commit
    rather than once per reading; the live views and energy counters do not wait for it)."""

    db: str = field(default="", repr=False)  # a URL may carry a password
    retention: Retention = DEFAULT_RETENTION
    commit_interval: float = 5.0  # seconds between commits of the queued readings


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """``[energy]``: how readings become kWh. ``max_gap_s`` None: 3 poll intervals, ≥ 60 s."""

    method: Literal["trapezoid", "left"] = "trapezoid"
    max_gap_s: float | None = None


@dataclass(frozen=True, slots=True)
class WebSettings:
    """``[web]``: dashboard/API address (None: off) and extra host names the server answers
    to (its Host-header check always accepts the address it is bound to)."""

    listen: tuple[str, int] | None = DEFAULT_LISTEN
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """``[prometheus]``: an own /metrics listener (None: none) and /metrics on the web app."""

    listen: tuple[str, int] | None = None
    web: bool = True


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """``[mqtt]`` (present only when MQTT is on). ``password`` is kept out of ``repr``."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    topic_prefix: str = "powermonitor"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    qos: int = 1  # discovery, availability, the devices list
    state_qos: int = 0  # the state: the next one replaces a lost one
    state_interval: float = 5.0  # s, a plug's state at most this often (switch changes at once)
    keepalive: int = 30
    birth_delay: float = 2.0  # seconds, spread: HA's docs ask for a small random delay

    @property
    def url(self) -> str:
        """The broker URL without credentials, for messages."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """``[influx]`` (present only when InfluxDB is on). Secrets are kept out of ``repr``."""

    url: str
    api: str = "v1"  # "v1", "v2" or "v3"
    database: str = ""
    retention_policy: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)
    measurement: str = "powermonitor"
    batch_size: int = 500
    flush_interval: float = 5.0
    max_buffer: int = 100_000
    timeout: float = 10.0
    gzip: bool = False
    ca_file: str = ""
    verify_tls: bool = True

    def request(self) -> tuple[str, dict[str, str], dict[str, str], tuple[str, str] | None]:
        """(URL, query parameters, headers, basic auth) of a write."""
        base = self.url.rstrip("/")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        auth: tuple[str, str] | None = None
        if self.api == "v1":
            params = {"db": self.database, "precision": "ns"}
            if self.retention_policy:
                params["rp"] = self.retention_policy
            if self.username:
                auth = (self.username, self.password)
            elif self.token:
                headers["Authorization"] = f"Token {self.token}"
            return f"{base}/write", params, headers, auth
        if self.api == "v2":
            if self.token:
                headers["Authorization"] = f"Token {self.token}"
            params = {"org": self.org, "bucket": self.bucket, "precision": "ns"}
            return f"{base}/api/v2/write", params, headers, auth
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        params = {"db": self.database, "precision": "nanosecond"}
        return f"{base}/api/v3/write_lp", params, headers, auth

    @property
    def target(self) -> str:
        """Where we write, for messages (no secrets)."""
        where = self.bucket if self.api == "v2" else self.database
        return f"{self.url} ({self.api}, {'bucket' if self.api == 'v2' else 'database'} {where!r})"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file, validated, with environment overrides applied (see :mod:`.sections`).

    ``sources`` keeps the sections as written in the file (not the plugs), so a save writes
    back what the user wrote and never a value that came from the environment.
    """

    path: Path | None = None
    defaults: Defaults = Defaults()
    plugs: tuple[PlugConfig, ...] = ()
    storage: StorageSettings = StorageSettings()
    energy: EnergySettings = EnergySettings()
    tariff: Tariff | None = None  # None: energy costs nothing, days in the host's time zone
    web: WebSettings = WebSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    mqtt: MqttSettings | None = None  # None: MQTT off
    influx: InfluxSettings | None = None  # None: InfluxDB off
    alerts: AlertConfig = field(default_factory=AlertConfig)  # [[alerts]] and [[notify]]
    sources: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def require_plugs(self) -> None:
        """Refuse a configuration without plugs: nothing to watch. The one rule for ``run``,
        ``watch`` (the monitor) and ``config check``, so a file that passes the check starts."""
        if not self.plugs:
            raise UsageError(
                "no plugs configured: add one with 'powermonitor devices add' or "
                "'powermonitor devices import FILE'"
            )

    def plug(self, name_or_id: str) -> PlugConfig:
        """Find a plug by id or name with the one lookup rule (monitor/directory.py; KeyError)."""
        device_id = resolve_id(name_or_id, ((p.device_id, p.name) for p in self.plugs))
        return next(p for p in self.plugs if p.device_id == device_id)

    def interval_for(self, plug: PlugConfig) -> float:
        """Seconds between polls of ``plug`` (:meth:`Defaults.interval_for`)."""
        return self.defaults.interval_for(plug)

    def refresh_for(self, plug: PlugConfig) -> bool | None:
        """Whether to ask ``plug`` to re-measure before polls (:meth:`Defaults.refresh_for`)."""
        return self.defaults.refresh_for(plug)
