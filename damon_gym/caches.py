"""The one rule of the package's process-wide caches: a dict holds at most ``size`` entries,
and a new entry beyond that evicts the oldest one (the first in the dict's order; a cache that
moves its hits to the end, such as an ``OrderedDict`` with ``move_to_end``, is thereby LRU)."""

from __future__ import annotations

from typing import Any


def bounded_put(cache: dict, key: Any, value: Any, size: int) -> Any:
    """``cache[key] = value``, then evict the oldest entries beyond ``size``; returns value."""
    cache[key] = value
    while len(cache) > size:
        del cache[next(iter(cache))]
    return value
