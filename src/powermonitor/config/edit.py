"""Pure edits of a :class:`Config` (add, remove, change, merge plugs) and the locked
read-modify-write that applies one to the file.

Edits return a new Config and never touch the disk; :func:`edit_config` loads, edits and saves
under :func:`~.toml_io.locked`, so parallel ``devices add`` commands all land. Every edit runs
the same plug checks and the same clash check (id, name, host:port) as the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, TypeVar

from ..errors import ConfigError
from .model import Config, PlugConfig
from .plugs import clashes, validate_plug
from .toml_io import load_config, locked, save_config

__all__ = [
    "EDITABLE_FIELDS",
    "MergeReport",
    "add_plug",
    "edit_config",
    "merge_plugs",
    "remove_plug",
    "update_plug",
]

T = TypeVar("T")


def _position(config: Config, name_or_id: str) -> int:
    try:
        found = config.plug(name_or_id)
    except KeyError:
        where = f" in {config.path}" if config.path else ""
        raise ConfigError(f"no plug named {name_or_id!r} (or with that id){where}") from None
    return config.plugs.index(found)


def _with_plugs(config: Config, plugs: Sequence[PlugConfig]) -> Config:
    clash = clashes(plugs)
    if clash is not None:
        raise ConfigError(clash[3], config.path)
    return replace(config, plugs=tuple(plugs))


def add_plug(config: Config, plug: PlugConfig) -> Config:
    """A new Config with ``plug`` appended; ConfigError if invalid or its name, id or
    host:port is taken."""
    return _with_plugs(config, [*config.plugs, validate_plug(plug)])


def remove_plug(config: Config, name_or_id: str) -> Config:
    """A new Config without the plug called (or with id) ``name_or_id``; ConfigError if none."""
    position = _position(config, name_or_id)
    return replace(config, plugs=config.plugs[:position] + config.plugs[position + 1:])


EDITABLE_FIELDS: Final[tuple[str, ...]] = tuple(
    f.name for f in fields(PlugConfig) if f.name != "mapping_source"
)
"""The :class:`PlugConfig` attributes :func:`update_plug` may change."""


def update_plug(config: Config, name_or_id: str, changes: Mapping[str, Any]) -> Config:
    """A new Config where the plug called (or with id) ``name_or_id`` has ``changes``
    (attribute name → new value, e.g. ``{"product_id": "abc", "poll_interval": None}``).

    The changed plug goes through the same checks as a new one; a new ``mapping`` drops the
    old mapping source. Raises :class:`ConfigError` for an unknown plug or attribute or a
    value the loader would refuse.
    """
    unknown = [key for key in changes if key not in EDITABLE_FIELDS]
    if unknown:
        raise ConfigError(f"cannot change {', '.join(map(repr, unknown))} of a plug: "
                          f"the fields are {', '.join(EDITABLE_FIELDS)}")
    position = _position(config, name_or_id)
    old = config.plugs[position]
    extra: dict[str, Any] = {"mapping_source": None} if "mapping" in changes else {}
    new = validate_plug(replace(old, **changes, **extra))
    plugs = list(config.plugs)
    plugs[position] = new
    return _with_plugs(config, plugs)


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What :func:`merge_plugs` did, by plug name (keys never appear here)."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()


_ALREADY_CONFIGURED: Final = "already configured (use --replace-existing to update it)"


def unique_name(name: str, device_id: str, taken: set[str] | frozenset[str]) -> str:
    """``name``, else ``name-<last 4 of id>``, else ``name-<id>``, else numbered: the first
    whose case-folded form is not in ``taken``."""
    for candidate in (name, f"{name}-{device_id[-4:]}", f"{name}-{device_id}"):
        if candidate.casefold() not in taken:
            return candidate
    counter = 2
    while f"{name}-{device_id}-{counter}".casefold() in taken:
        counter += 1
    return f"{name}-{device_id}-{counter}"


def _address(plug: PlugConfig) -> tuple[str, int]:
    return plug.host.casefold(), plug.port


def merge_plugs(
    config: Config, plugs: Iterable[PlugConfig], *, replace_existing: bool = False
) -> tuple[Config, MergeReport]:
    """Merge imported plugs into ``config`` by device id, in time linear in the plug count.

    A new id is added (its name gets an id suffix if another plug already uses it; it is
    skipped if another plug has its host:port). A known id is skipped, or with
    ``replace_existing`` has its connection fields (host, port, key, version, mapping, product
    id) updated from the import, except where the import does not know them (no key, version
    "auto", no mapping, no product id); its name, interval and refresh stay as configured.
    """
    current = list(config.plugs)
    index = {p.device_id: i for i, p in enumerate(current)}
    taken = {p.name.casefold() for p in current} | {p.device_id.casefold() for p in current}
    owners = {_address(p): p.device_id for p in current}
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[tuple[str, str]] = []
    renamed: list[tuple[str, str]] = []
    for plug in plugs:
        plug = validate_plug(plug)
        owner = owners.get(_address(plug))
        if owner is not None and owner != plug.device_id:
            skipped.append((plug.name, (f"{plug.host}:{plug.port} is already the address of plug "
                                       f"{current[index[owner]].name!r}")))
            continue
        position = index.get(plug.device_id)
        if position is not None:
            old = current[position]
            if not replace_existing:
                skipped.append((old.name, _ALREADY_CONFIGURED))
                continue
            new = replace(
                old, host=plug.host, port=plug.port,
                # An import that does not know the key or version does not erase ours.
                local_key=plug.local_key or old.local_key,
                version=plug.version if plug.version != "auto" else old.version,
                mapping=plug.mapping if plug.mapping is not None else old.mapping,
                mapping_source=plug.mapping_source if plug.mapping is not None
                else old.mapping_source,
                product_id=plug.product_id or old.product_id,
            )
            same = new == old and new.local_key == old.local_key
            (unchanged if same else updated).append(old.name)
            del owners[_address(old)]
            owners[_address(new)] = new.device_id
            current[position] = new
            continue
        name = unique_name(plug.name, plug.device_id, taken)
        if name != plug.name:
            renamed.append((plug.name, name))
            plug = replace(plug, name=name)
        index[plug.device_id] = len(current)
        taken.update((plug.name.casefold(), plug.device_id.casefold()))
        owners[_address(plug)] = plug.device_id
        current.append(plug)
        added.append(plug.name)
    report = MergeReport(tuple(added), tuple(updated), tuple(unchanged), tuple(skipped),
                         tuple(renamed))
    return _with_plugs(config, current), report


def edit_config(path: Path | str | None, change: Callable[[Config], tuple[Config, T]],
                *, save: bool = True) -> tuple[Config, Config, T, Path]:
    """Load the file at ``path``, apply ``change`` (returning the new Config and anything the
    caller wants back), and save, all under the config lock.

    Returns (old config, new config, ``change``'s extra value, the path). ``save=False`` (a
    dry run) or a ``change`` that returns the same Config object writes nothing.
    """
    with locked(path) as target:
        old = load_config(path)
        new, extra = change(old)
        written = old.path or target
        if save and new is not old:
            written = save_config(new, old.path)
        return old, new, extra, written
