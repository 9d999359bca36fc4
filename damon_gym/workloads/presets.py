"""Workload presets: named workload specs in ``configs/workloads/<name>.yaml``.

A preset is a scenario's ``workload`` mapping kept in its own file, plus a few words on what
it is::

    description: GUPS (Colloid): a 27.8 % hot set gets 90 % of the accesses
    family: gups                 # workload family (suites use it for train/test splits)
    regime: latency-bound        # what the preset is meant to exercise
    anchor: "[PM 4] GUPS, Colloid"
    generator: hot_cold          # or  masim: workloads/masim/stairs.cfg
    params: {...}                #     replay: workloads/damo_records/x.damon.data

A scenario uses it as ``workload: {preset: gups}`` and may override anything:
``workload: {preset: gups, params: {size: 96 MiB}, u_target: 0.3}``. Overrides are merged
into the preset recursively (mappings merge key by key; any other value replaces), so nested
generator parameters (``params.base.params.hot_fraction``) can be changed alone. Paths in a
preset are relative to ``configs/`` (as in scenarios).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from damon_gym.configs import CONFIG_DIR
from damon_gym.safe_yaml import YamlError, read_yaml

PRESET_DIR = CONFIG_DIR / "workloads"
#: keys a preset file may hold besides the workload spec itself
META_KEYS = ("description", "family", "regime", "anchor")

__all__ = ["PRESET_DIR", "META_KEYS", "preset_names", "preset_path", "load_preset",
           "deep_merge", "expand_preset", "check_generator_params"]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    p = PRESET_DIR / f"{name}.yaml"
    if not p.exists():
        raise ValueError(f"workload.preset: {name!r} is not known; allowed: "
                         f"{', '.join(preset_names())}")
    return p


def load_preset(name: str) -> dict[str, Any]:
    """The preset's mapping (metadata and workload spec), as written in its file."""
    p = preset_path(name)
    try:
        data = read_yaml(p)
    except YamlError as e:
        raise ValueError(f"workload.preset: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"workload.preset: {p}: a preset is a mapping, got {type(data).__name__}")
    if "preset" in data:
        raise ValueError(f"workload.preset: {p}: a preset cannot refer to another preset")
    return data


def deep_merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base``: mappings key by key (recursively), anything else (lists,
    scalars, distributions) replaces. Neither input is changed."""
    if isinstance(base, Mapping) and isinstance(over, Mapping) and not _is_dist(over):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return over


def _is_dist(v: Any) -> bool:
    """A randomisation marker (damon_gym.randomize): merged as a value, not key by key."""
    return isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in ("range", "choice")


def expand_preset(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A workload mapping with its ``preset`` (if any) expanded: the preset's content with the
    spec's other keys merged over it; ``preset`` stays, naming where the content came from."""
    if spec.get("preset") is None:
        return dict(spec)
    name = spec["preset"]
    if not isinstance(name, str):
        raise ValueError(f"workload.preset: got {name!r}; allowed: a preset name "
                         f"({', '.join(preset_names())})")
    data = load_preset(name)
    over = {k: v for k, v in spec.items() if k != "preset"}
    kinds = [k for k in ("generator", "masim", "replay") if k in over]
    if kinds:  # a different kind of workload replaces the preset's generator/params
        data = {k: v for k, v in data.items()
                if k not in ("generator", "params", "masim", "replay", "accesses_per_s")}
    out = deep_merge(data, over)
    out["preset"] = name
    return out


def check_generator_params(name: str, params: Any, where: str = "workload") -> None:
    """Load-time check of a generator spec: the generator exists and every parameter is one
    of its arguments (recursively for ``base`` and ``workloads``). Values are checked by the
    generator when the workload is built."""
    from damon_gym.workloads.registry import GENERATORS, names

    fn = GENERATORS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"{where}.generator: got {name!r}; allowed: {', '.join(names())}")
    if not isinstance(params, Mapping):
        raise ValueError(f"{where}.params: got {params!r}; allowed: a mapping of parameters")
    sig = inspect.signature(fn)
    allowed = [p for p in sig.parameters if p != "rng"]
    for key, value in params.items():
        if key not in allowed:
            raise ValueError(f"{where}.params.{key}: not a parameter of {name} (got {value!r}); "
                             f"allowed: {', '.join(allowed)}")
        subs = [value] if key == "base" else (value if key == "workloads" else [])
        if key in ("base", "workloads") and not isinstance(subs, list):
            raise ValueError(f"{where}.params.{key}: got {value!r}; allowed: a list of "
                             "{generator, params} mappings")
        for i, sub in enumerate(subs):
            at = f"{where}.params.{key}" + (f"[{i}]" if key == "workloads" else "")
            if not isinstance(sub, Mapping) or "generator" not in sub:
                raise ValueError(f"{at}: got {sub!r}; allowed: a mapping with 'generator' "
                                 "and 'params'")
            check_generator_params(sub["generator"], sub.get("params") or {}, at)
    missing = [p.name for p in sig.parameters.values()
               if p.default is inspect.Parameter.empty and p.name != "rng"
               and p.name not in params and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise ValueError(f"{where}.params: {name} needs {', '.join(missing)} (got "
                         f"{sorted(params)})")
