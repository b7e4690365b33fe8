"""A small name -> object registry shared by skeletons, partitions, models and weights."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; duplicate names raise, unknown names list the known ones.

    Args:
        kind: what the registry holds, used in messages (e.g. ``"skeleton"``).

    Examples:
        >>> reg: Registry[int] = Registry("number")
        >>> reg.register("one", 1)
        1
        >>> reg.get("one")
        1
        >>> reg.get("onee")
        Traceback (most recent call last):
        ...
        ValueError: unknown number 'onee' (did you mean 'one'?); known: 'one'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, overwrite: bool = False) -> T:
        """Add ``item`` under ``name``; raise ``ValueError`` on a duplicate unless ``overwrite``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not overwrite:
            raise ValueError(
                f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
            )
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """Return the item registered as ``name``; raise ``ValueError`` listing known names."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        known = ", ".join(repr(k) for k in sorted(self._items)) or "none"
        close = difflib.get_close_matches(str(name), list(self._items), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {self.kind} {name!r}{hint}; known: {known}") from None

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, optionally filtered by a shell-style ``pattern`` (``"sr*"``)."""
        names = sorted(self._items)
        if pattern is None:
            return names
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def unregister(self, name: str) -> None:
        """Remove ``name`` (mostly for tests); raise ``ValueError`` if it is unknown."""
        self.get(name)
        del self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
