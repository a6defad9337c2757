"""Reading, writing and locking the configuration file (TOML).

Design rules:

* **Validate everything on load, with the file and line in the message.** TOML syntax errors
  carry tomllib's line and column; every other error is a :class:`~.fields.FieldError` located
  by :class:`~.fields.Locator`.
* **Never write a file we cannot read back.** :func:`save_config` renders the TOML, parses it
  again with the same validator, and only then replaces the file: temp file in the same
  directory created 0600, fsync, ``os.replace``. A failed write leaves the old file untouched.
  Comments in a hand-edited file are not kept by a save (tomli-w writes data, not layout);
  sections other than the plugs are written back as they were read (``Config.sources``), so
  a value that came from the environment never lands in the file.
* **Read-modify-write under a lock.** :func:`locked` holds ``flock`` on ``.NAME.lock`` beside
  the file, so parallel ``devices add`` never lose each other's plugs.
* **Keys never leave in clear.** :func:`show_config` masks keys, passwords and tokens; no error
  message of this package contains a key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import tomli_w

from ..errors import ConfigError
from .alerts import RuleError, parse_sections, redact_target
from .fields import FieldError, Locator, hint
from .locate import resolve_path
from .model import Config, Defaults
from .plugs import clashes, defaults_from, plug_document, plug_from, tidy_number
from .sections import SECTIONS, shown

__all__ = [
    "KNOWN_SECTIONS",
    "load_config",
    "locked",
    "parse_config",
    "render_config",
    "save_config",
    "show_config",
]

log = logging.getLogger("powermonitor.config")

ARRAY_SECTIONS: Final[tuple[str, ...]] = ("notify", "alerts")
"""Arrays of tables validated together (rules name channels): see :mod:`.alerts`."""
KNOWN_SECTIONS: Final[tuple[str, ...]] = ("defaults", "plugs", *SECTIONS, *ARRAY_SECTIONS)

_TOML_ERROR_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_ERROR_END = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)$")


def _toml(text: str, label: Path | str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses per nesting level: a hostile file is an error
        raise ConfigError("invalid TOML: arrays or tables nested too deeply", label) from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR_AT.match(str(exc))
        if match:
            raise ConfigError(f"invalid TOML: {match['msg']}", label, int(match["line"]),
                              int(match["col"])) from None
        match = _TOML_ERROR_END.match(str(exc))
        if match:
            raise ConfigError(f"invalid TOML: {match['msg']} at the end of the file", label,
                              len(text.splitlines()) or 1) from None
        raise ConfigError(f"invalid TOML: {exc}", label) from None


def parse_config(text: str, path: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> Config:
    """Validate TOML ``text`` into a :class:`Config`; errors name ``path`` and the line.

    ``env`` (default ``os.environ``) supplies the overrides listed in :mod:`.sections`.
    """
    env = os.environ if env is None else env
    where = None if path is None else Path(path)
    label = where if where is not None else "<config>"
    data = _toml(text, label)
    locate = Locator(text)

    def fail(message: str, line: int | None) -> ConfigError:
        return ConfigError(message, label, line)

    for section in data:
        if section not in KNOWN_SECTIONS:
            raise fail(f"unknown section {section!r}{hint(section, KNOWN_SECTIONS)}",
                       locate.section(section))

    defaults = Defaults()
    raw_defaults = data.get("defaults")
    if raw_defaults is not None:
        if not isinstance(raw_defaults, dict):
            raise fail("'defaults' must be a table: write [defaults]", locate.section("defaults"))
        try:
            defaults = defaults_from(raw_defaults)
        except FieldError as exc:
            raise fail(exc.message, locate.in_section("defaults", exc.key)) from None

    raw_plugs = data.get("plugs", [])
    if not isinstance(raw_plugs, list):
        raise fail("'plugs' must be an array of tables: write [[plugs]] (two brackets) before "
                   "each plug", locate.section("plugs"))
    plugs = []
    for position, table in enumerate(raw_plugs):
        if not isinstance(table, dict):
            raise fail(f"plug #{position + 1} must be a table", locate.section("plugs"))
        raw_name = table.get("name")
        who = f"plug {raw_name.strip()!r}" if isinstance(raw_name, str) and raw_name.strip() \
            else f"plug #{position + 1}"
        try:
            plugs.append(plug_from(table))
        except FieldError as exc:
            raise fail(f"{who}: {exc.message}", locate.plug(position, exc.key)) from None

    clash = clashes(plugs)
    if clash is not None:
        position, key, value, message = clash
        line = locate.plug(position, key) if locate.array_item("plugs", position) else None
        if line is None:
            earlier = sum(1 for p in plugs[:position]
                          if (p.device_id if key == "id" else p.name) == value)
            line = locate.value_line(key, value, earlier) or locate.section("plugs")
        raise fail(message, line)

    settings: dict[str, Any] = {}
    for name, parse in SECTIONS.items():
        try:
            settings[name] = parse(data.get(name), env)
        except FieldError as exc:
            raise fail(exc.message, locate.in_section(name, exc.key)) from None
        except ConfigError as exc:  # a value from the environment: no line to point at
            raise ConfigError(exc.reason, label) from None
    try:
        settings["alerts"] = parse_sections(data.get("notify"), data.get("alerts"))
    except RuleError as exc:
        raw = data.get(exc.section)
        entry = raw[exc.position] if isinstance(raw, list) and exc.position < len(raw) else None
        label_name = entry.get("name") if isinstance(entry, dict) else None
        who = f"{exc.section} {label_name.strip()!r}" \
            if isinstance(label_name, str) and label_name.strip() \
            else f"{exc.section} #{exc.position + 1}"
        block = locate.array_item(exc.section, exc.position)
        raise fail(f"{who}: {exc.message}", locate.field(block, exc.key, exc.section)
                   or locate.section(exc.section)) from None
    sources = {name: data[name] for name in (*SECTIONS, *ARRAY_SECTIONS) if name in data}
    return Config(path=where, defaults=defaults, plugs=tuple(plugs), sources=sources,
                  **settings)


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None
                ) -> Config:
    """Read and validate the config file; a missing file is an empty :class:`Config` (with
    the environment's overrides). Raises :class:`ConfigError` naming the file (and the line,
    where there is one)."""
    target = resolve_path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return replace(parse_config("", None, env), path=target)
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", target) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", target) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("the file is not UTF-8 text", target, line) from None
    config = parse_config(text, target, env)
    _warn_if_readable(target, config)
    return config


def _warn_if_readable(path: Path, config: Config) -> None:
    if os.name != "posix" or not any(plug.local_key for plug in config.plugs):
        return
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            log.warning("%s holds local keys but other users may read it: chmod 600 %s",
                        path, path)


# --------------------------------------------------------------------------- writing files

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_COMMENT = (
    "# powermonitor configuration (TOML). Holds local keys: keep it private (mode 0600).\n"
    "# Rewritten by `powermonitor devices add/remove/import`: comments are not kept.\n\n"
)
_SHOW_COMMENT = (
    "# powermonitor effective configuration: defaults filled in, environment applied,\n"
    "# secrets masked. Not a file to save as is.\n\n"
)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _inline(value: Any) -> str:
    """One TOML value on one line (inline tables cannot span lines in TOML 1.0)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = ", ".join(f"{_toml_key(str(k))} = {_inline(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _render(config: Config, sections: Mapping[str, Any], *, mask: bool, comment: str) -> str:
    d = config.defaults
    defaults: dict[str, Any] = {
        "poll_interval": tidy_number(d.poll_interval),
        "timeout": tidy_number(d.timeout),
        "heartbeat_interval": tidy_number(d.heartbeat_interval),
    }
    if d.refresh is not None:
        defaults["refresh"] = d.refresh
    head: dict[str, Any] = {"defaults": defaults, **sections}
    chunks = [comment, tomli_w.dumps(head)]
    for plug in config.plugs:
        doc, mapping = plug_document(plug, mask=mask)
        chunk = "\n[[plugs]]\n" + tomli_w.dumps(doc)
        if mapping is not None:
            nested = any(isinstance(v, Mapping) for v in mapping.values())
            if nested:  # tinytuya style: one line per DP under a [plugs.mapping] table
                chunk += "\n[plugs.mapping]\n" + "".join(
                    f"{_toml_key(str(k))} = {_inline(v)}\n" for k, v in mapping.items())
            else:
                chunk += f"mapping = {_inline(mapping)}\n"
        chunks.append(chunk)
    return "".join(chunks)


def render_config(config: Config) -> str:
    """The TOML text :func:`save_config` writes (sections other than plugs as read)."""
    sections = {name: config.sources[name] for name in (*SECTIONS, *ARRAY_SECTIONS)
                if name in config.sources}
    return _render(config, sections, mask=False, comment=_HEADER_COMMENT)


def show_config(config: Config) -> str:
    """The effective configuration as TOML (``config show``): every section with its defaults,
    environment overrides applied, keys shown as first 2 and last 2 characters, passwords and
    tokens as ``***``."""
    sections: dict[str, Any] = {}
    for name in SECTIONS:
        table = shown(name, getattr(config, name), config.sources.get(name))
        if table is not None:
            sections[name] = table
    if "notify" in config.sources:  # channel URLs may carry tokens: scheme and host only
        sections["notify"] = [{**t, "url": redact_target(str(t.get("url", "")))}
                              for t in config.sources["notify"]]
    if "alerts" in config.sources:
        sections["alerts"] = config.sources["alerts"]
    return _render(config, sections, mask=True, comment=_SHOW_COMMENT)


def _write_atomic(target: Path, data: bytes) -> None:
    """Temp file (0600) beside ``target``, fsync, rename over it: all or nothing."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask did
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (best effort)
        with contextlib.suppress(OSError):
            dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _target(path: Path | str | None) -> Path:
    target = resolve_path(path)
    return target.resolve() if target.is_symlink() else target


def save_config(config: Config, path: Path | str | None = None) -> Path:
    """Write ``config`` (to ``path``, else ``config.path``, else the default) atomically, 0600.

    The text is validated by reading it back before anything is written; a failed write
    (disk full, read-only directory) raises :class:`ConfigError` and leaves the old file as
    it was. A symlinked config file is written through to its target. Returns the path.
    """
    target = _target(path if path is not None else config.path)
    text = render_config(config)
    try:
        parse_config(text, target)
    except ConfigError as exc:
        raise ConfigError(f"refusing to save an invalid configuration: {exc.reason}",
                          target) from None
    try:
        _write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot save the configuration: {exc.strerror or exc}; the file on disk is unchanged",
            target,
        ) from exc
    return target


@contextlib.contextmanager
def locked(path: Path | str | None = None) -> Iterator[Path]:
    """Hold an exclusive lock for a read-modify-write of the config file at ``path``.

    The lock is ``flock`` on ``.NAME.lock`` beside the file (never the file itself, which a
    save replaces); it is released when the block ends or the process dies. Yields the path.
    """
    target = _target(path)
    lock = target.with_name(f".{target.name}.lock")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock the configuration ({lock}): {exc.strerror or exc}",
                          target) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield target
    finally:
        os.close(fd)  # closing releases the lock
