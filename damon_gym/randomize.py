"""Domain randomisation: values a scenario draws per episode from the episode seed.

Anywhere in a scenario's ``workload`` (including its ``params`` and ``u_target``) and in its
``background``, a value may be a *distribution* instead of a number, written as a one-key
mapping:

``{range: [lo, hi]}``   uniform in [lo, hi]; when both bounds are integers, an integer in
                        [lo, hi] inclusive (use 0.0-style floats for a float range)
``{choice: [a, b, ...]}``  one of the listed values, each equally likely (any YAML value,
                        e.g. background presets ``[0x, 1x, 2x, 3x]``)

:func:`sample` replaces every distribution by a draw. The draws come from
``numpy.random.default_rng([seed, SALT])``, one per distribution, in a fixed walk order
(mapping keys sorted, lists in order), so the same seed gives the same values and the workload
generators' own stream (``default_rng(seed)``) is not shifted. The drawn values are returned
by path (``workload.params.hot_fraction``) and a resolved scenario keeps them in its
``sampled`` field (see :meth:`damon_gym.scenario.Scenario.resolved`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

SALT = 0x5CE7A210  # separates the randomisation stream from the workload's default_rng(seed)
KEYS = ("range", "choice")

__all__ = ["SALT", "is_dist", "has_dist", "check_dists", "sample", "episode_rng"]


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_dist(v: Any) -> bool:
    """A one-key mapping ``{range: ...}`` or ``{choice: ...}``."""
    return isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in KEYS


def has_dist(v: Any) -> bool:
    """Whether ``v`` holds a distribution anywhere inside."""
    if is_dist(v):
        return True
    if isinstance(v, Mapping):
        return any(has_dist(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(has_dist(x) for x in v)
    return False


def _check_one(v: Mapping[str, Any], path: str) -> None:
    key, arg = next(iter(v.items()))
    if key == "range":
        if not (isinstance(arg, (list, tuple)) and len(arg) == 2 and all(_is_num(x) for x in arg)
                and all(math.isfinite(float(x)) for x in arg) and float(arg[0]) <= float(arg[1])):
            raise ValueError(f"{path}.range: got {arg!r}; allowed: [lo, hi], two finite "
                             "numbers with lo <= hi")
    elif not (isinstance(arg, (list, tuple)) and arg):
        raise ValueError(f"{path}.choice: got {arg!r}; allowed: a non-empty list of values")
    else:
        for i, x in enumerate(arg):
            if has_dist(x):
                raise ValueError(f"{path}.choice[{i}]: got {x!r}; allowed: plain values "
                                 "(distributions do not nest)")


def check_dists(v: Any, path: str) -> None:
    """Raise ValueError (naming the path, the value and what is allowed) for a malformed
    distribution anywhere in ``v``."""
    if is_dist(v):
        _check_one(v, path)
    elif isinstance(v, Mapping):
        for k, x in v.items():
            check_dists(x, f"{path}.{k}")
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            check_dists(x, f"{path}[{i}]")


def episode_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), SALT])


def _draw(v: Mapping[str, Any], rng: np.random.Generator) -> Any:
    key, arg = next(iter(v.items()))
    if key == "range":
        lo, hi = arg
        if _is_int(lo) and _is_int(hi):
            return int(rng.integers(int(lo), int(hi) + 1))
        return float(rng.uniform(float(lo), float(hi)))
    return arg[int(rng.integers(len(arg)))]


def sample(v: Any, rng: np.random.Generator, path: str, out: dict[str, Any]) -> Any:
    """``v`` with every distribution replaced by a draw from ``rng``; the draws are added to
    ``out`` by path. Containers are copied, ``v`` is not changed."""
    if is_dist(v):
        _check_one(v, path)
        x = _draw(v, rng)
        out[path] = x
        return x
    if isinstance(v, Mapping):
        return {k: sample(v[k], rng, f"{path}.{k}", out) for k in sorted(v, key=str)}
    if isinstance(v, (list, tuple)):
        return [sample(x, rng, f"{path}[{i}]", out) for i, x in enumerate(v)]
    return v
