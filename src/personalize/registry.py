"""A small name -> object registry, used for models, encoders, tasks, retrievers and methods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from personalize.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; unknown names fail with the list of known ones.

    Names are matched case-insensitively so that ``LaMP-7`` and ``lamp-7`` are the same task.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._display: dict[str, str] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def _add(o: T) -> T:
            key = name.lower()
            if key in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[key] = o
            self._display[key] = name
            return o

        if obj is None:
            return _add
        return _add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin unloaded by a test); unknown names are ignored."""
        key = name.lower()
        self._items.pop(key, None)
        self._display.pop(key, None)

    def get(self, name: str) -> T:
        key = name.lower()
        if key not in self._items:
            known = ", ".join(self.names())
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._items[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def names(self) -> list[str]:
        return [self._display[k] for k in self._items]

    def items(self) -> Iterator[tuple[str, T]]:
        for key, obj in self._items.items():
            yield self._display[key], obj
