"""The configuration file: plugs to watch, global defaults and every feature's section (TOML).

Location: ``--config PATH``, else ``$POWERMONITOR_CONFIG``, else ``config.toml`` in the user's
config dir (``$XDG_CONFIG_HOME/powermonitor``, ``~/.config/powermonitor``). A missing file is an
empty configuration. Files holding keys are written 0600, atomically, under a lock; keys are
masked in every listing.

Example::

    [defaults]
    poll_interval = 10        # seconds; never below 1
    timeout = 5
    heartbeat_interval = 10
    refresh = true            # optional: ask plugs to re-measure before each poll

    [[plugs]]
    name = "fridge"
    id = "bf1f6d1e0f8c3a2b4d5e"
    host = "192.168.1.50"
    key = "0123456789abcdef"
    version = "3.3"           # 3.1 3.2 3.3 3.4 3.5 or "auto" (the default)
    port = 6668               # optional
    poll_interval = 5         # optional, else [defaults]
    product_id = "keyjup78v54myhan"   # optional: Tuya's product id (picks a model profile)
    # optional DP mapping override: role = "dp", "dp:scale" or "dp:scale:unit"
    mapping = { power = "19:1", current = "18:0", voltage = "20:1", switches = ["1"] }

    [[plugs]]
    name = "boiler"
    id = "bf00000000000000beef"
    host = "192.168.1.51"
    key = "fedcba9876543210"
    mapping = { layout = "switch20" }     # a known layout, optionally with overrides

    [[plugs]]
    name = "heater"
    id = "bf00000000000000cafe"
    host = "192.168.1.52"
    key = "0011223344556677"
    [plugs.mapping]                       # tinytuya's devices.json mapping, as imported
    19 = { code = "cur_power", type = "Integer", values = { unit = "W", scale = 1 } }

    [storage]
    db = "~/powermonitor.db"  # or postgresql://user@host/db
    raw_days = 14

    [web]
    listen = "127.0.0.1:8000"

The package, one job per module: :mod:`.model` (typed, frozen settings), :mod:`.fields` (the
one field validator, file:line, did-you-mean), :mod:`.plugs` (plug and DP mapping checks),
:mod:`.sections` (every other section, and the environment overrides), :mod:`.locate` (where
the file is), :mod:`.toml_io` (load, render, atomic save, lock), :mod:`.edit` (pure edits and
the locked read-modify-write) and :mod:`.importers` (tinytuya and simulator files).
"""

from __future__ import annotations

from .edit import (
    EDITABLE_FIELDS,
    MergeReport,
    add_plug,
    edit_config,
    merge_plugs,
    remove_plug,
    update_plug,
)
from .importers import ImportResult, import_devices
from .locate import CONFIG_ENV, default_config_path
from .model import (
    DEFAULT_LISTEN,
    DEFAULT_PORT,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    Config,
    Defaults,
    EnergySettings,
    InfluxSettings,
    MqttSettings,
    PlugConfig,
    PrometheusSettings,
    StorageSettings,
    WebSettings,
)
from .plugs import (
    is_product_id,
    mapping_to_source,
    missing_key_message,
    needs_key,
    parse_mapping,
    validate_plug,
)
from .sections import ENV, SECTIONS
from .toml_io import (
    KNOWN_SECTIONS,
    load_config,
    locked,
    parse_config,
    render_config,
    save_config,
    show_config,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_LISTEN",
    "DEFAULT_PORT",
    "EDITABLE_FIELDS",
    "ENV",
    "KNOWN_SECTIONS",
    "MAX_POLL_INTERVAL",
    "MIN_POLL_INTERVAL",
    "SECTIONS",
    "Config",
    "Defaults",
    "EnergySettings",
    "ImportResult",
    "InfluxSettings",
    "MergeReport",
    "MqttSettings",
    "PlugConfig",
    "PrometheusSettings",
    "StorageSettings",
    "WebSettings",
    "add_plug",
    "default_config_path",
    "edit_config",
    "import_devices",
    "is_product_id",
    "load_config",
    "locked",
    "mapping_to_source",
    "merge_plugs",
    "missing_key_message",
    "needs_key",
    "parse_config",
    "parse_mapping",
    "remove_plug",
    "render_config",
    "save_config",
    "show_config",
    "update_plug",
    "validate_plug",
]
