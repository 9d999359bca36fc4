"""Build a workload from a generator name and a parameter mapping (as scenario files give it).

    build("hot_cold", {"size": "1 GiB", "hot_fraction": 0.278, "hot_prob": 0.9,
                       "total_rate": 1e7}, rng)

Generators that reshape another workload (``partial_shift``, ``periodic_swaps``,
``with_processes``) take ``base: {generator: ..., params: {...}}``; ``merge`` takes
``workloads: [{generator: ..., params: ...}, ...]``. Unknown parameters are refused with the
list of the allowed ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from damon_gym.workloads import generators
from damon_gym.workloads.model import MempolicySpec, Workload
from damon_gym.workloads.phased import phased

GENERATORS = {name: getattr(generators, name) for name in generators.__all__
              if callable(getattr(generators, name))}
GENERATORS["phased"] = phased


def names() -> list[str]:
    return sorted(GENERATORS)


def _sub(spec: Any, rng: np.random.Generator, where: str) -> Workload:
    if not isinstance(spec, Mapping) or "generator" not in spec:
        raise ValueError(f"{where}: expected a mapping with 'generator' and 'params'")
    extra = set(spec) - {"generator", "params"}
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}; allowed: generator, params")
    return build(spec["generator"], spec.get("params") or {}, rng)


def build(name: str, params: Mapping[str, Any], rng: np.random.Generator) -> Workload:
    """The workload of generator ``name`` with ``params``; randomness drawn from ``rng``."""
    fn = GENERATORS.get(name)
    if fn is None:
        raise ValueError(f"workload.generator: {name!r} is not known; allowed: {', '.join(names())}")
    sig = inspect.signature(fn)
    allowed = [p for p in sig.parameters if p != "rng"]
    kw: dict[str, Any] = {}
    for key, value in params.items():
        if key not in sig.parameters or key == "rng":
            raise ValueError(f"workload.params.{key}: not a parameter of {name}; "
                             f"allowed: {', '.join(allowed)}")
        if key in ("base",):
            value = _sub(value, rng, f"workload.params.{key}")
        elif key == "workloads":
            value = [_sub(v, rng, f"workload.params.workloads[{i}]") for i, v in enumerate(value)]
        elif key == "mempolicy" and isinstance(value, Mapping):
            value = MempolicySpec(**value)
        kw[key] = value
    if "rng" in sig.parameters:
        kw["rng"] = rng
    missing = [p.name for p in sig.parameters.values()
               if p.default is inspect.Parameter.empty and p.name not in kw
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise ValueError(f"workload.params: {name} needs {', '.join(missing)}")
    try:
        return fn(**kw)
    except TypeError as e:
        raise ValueError(f"workload.params: {name}: {e}") from None
