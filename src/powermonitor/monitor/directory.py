"""The one plug lookup: a plug named by a user (CLI argument, API path, MQTT topic, ``Service``
call) is found here and nowhere else, so every entry point accepts the same names.

The rule, in order: the exact device id; the exact name; the name ignoring case
(``"fridge"`` finds ``"Fridge"``). Ids are never matched ignoring case: Tuya ids are opaque.

Pure (no I/O, no imports from the rest of the package), so the config, the monitor, the web
API, the exporters and the CLI can all use it without import cycles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["PlugDirectory", "UnknownPlugError", "resolve_id"]

T = TypeVar("T")


class UnknownPlugError(KeyError):
    """No configured plug has this id or name (a ``KeyError``, as a mapping lookup raises)."""

    def __init__(self, name_or_id: str) -> None:
        super().__init__(name_or_id)
        self.name_or_id = name_or_id

    def __str__(self) -> str:
        return f"no plug named {self.name_or_id!r} (or with that id)"


def resolve_id(name_or_id: str, entries: Iterable[tuple[str, str]]) -> str:
    """The device id that ``name_or_id`` names among ``(device_id, name)`` pairs.

    Raises :class:`UnknownPlugError` when none matches.
    """
    pairs = list(entries)
    for device_id, _ in pairs:
        if device_id == name_or_id:
            return device_id
    for device_id, name in pairs:
        if name == name_or_id:
            return device_id
    folded = name_or_id.casefold()
    for device_id, name in pairs:
        if name.casefold() == folded:
            return device_id
    raise UnknownPlugError(name_or_id)


class PlugDirectory(Generic[T]):
    """Configured plugs by device id, with their display names, found by :func:`resolve_id`."""

    def __init__(self, items: Mapping[str, T], names: Mapping[str, str]) -> None:
        self._items = dict(items)
        self._names = {device_id: names.get(device_id) or device_id for device_id in self._items}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._items

    def id_of(self, name_or_id: str) -> str:
        """The device id of the plug ``name_or_id`` names (:class:`UnknownPlugError` if none)."""
        if name_or_id in self._items:  # the common case (ids from topics and the Hub): O(1)
            return name_or_id
        return resolve_id(name_or_id, self._names.items())

    def find(self, name_or_id: str) -> T:
        """The plug ``name_or_id`` names (:class:`UnknownPlugError` if none)."""
        return self._items[self.id_of(name_or_id)]

    def name_of(self, device_id: str) -> str:
        """The display name of a plug (its id when it has none or is unknown)."""
        return self._names.get(device_id, device_id)

    def names(self) -> dict[str, str]:
        """device id → display name, in configuration order."""
        return dict(self._names)
