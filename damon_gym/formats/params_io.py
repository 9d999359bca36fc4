"""Reading and writing DAMON parameter documents (models in params_model.py).

Reading accepts JSON or YAML files, a JSON string or a dict; ``raw=True`` undoes damo's
``--raw`` quirk (quota times, age bounds and watermark interval written in nanoseconds,
[WF 2.9]).

Writing uses damo's human form, exactly: sizes via units.format_size ("200 MiB", where damo
itself writes the lossy "200.000 MiB"), times via format_time_us ("5 ms", "1 s"), permil and bp
as damo's percent strings ("0.1 %" = 1 permil, "4 %" = 400 bp), counts with thousands commas.
2**64-1 is written "max", which damo reads back exactly (its own "18,446,744,073,709,551,615 %"
passes through a float and comes back as ...616). Key order follows damo's output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from damon_gym.errors import read_text
from damon_gym.files import atomic_write_bytes
from damon_gym.formats._fields import (
    DamoFormatError,
    fmt_int,
    fmt_percent,
    fmt_percent_of,
    problems_of,
)
from damon_gym.formats.params_model import (
    AccessPatternParams,
    ContextParams,
    DamonParams,
    FilterParams,
    KdamondParams,
    QuotaParams,
    SchemeParams,
)
from damon_gym.safe_yaml import YamlError, parse_yaml
from damon_gym.units import U64_MAX, format_size, format_time_us

__all__ = ["load_damon_params", "load_schemes", "dump_damon_params", "dump_schemes",
           "dump_scheme", "save_damon_params"]


# ---------------------------------------------------------------- reading

_RAW_NS_KEYS = {("quotas", "time_ms"): 1_000_000, ("quotas", "reset_interval_ms"): 1_000_000,
                ("watermarks", "interval_us"): 1_000}


def _from_raw_ns(value: Any, div: int) -> Any:
    """damo --raw writes these keys in ns ([WF 2.9] quirk): bring bare numbers back."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    text = str(value).replace(",", "").strip()
    try:
        n: int | float = int(text)
    except ValueError:
        try:
            n = float(text)
        except ValueError:
            return value          # a unit string such as "5 s": not raw
    if n >= U64_MAX:
        return "max"
    return (int(n) + div // 2) // div if isinstance(n, int) else round(n / div)


def _unraw_scheme(s: Any) -> Any:
    if not isinstance(s, Mapping):
        return s
    s = json.loads(json.dumps(s))
    for (outer, key), div in _RAW_NS_KEYS.items():
        if isinstance(s.get(outer), dict) and key in s[outer]:
            s[outer][key] = _from_raw_ns(s[outer][key], div)
    age = s.get("access_pattern", {}).get("age") if isinstance(s.get("access_pattern"), dict) else None
    if isinstance(age, dict):
        for k in ("min", "max"):
            if k in age:
                age[k] = _from_raw_ns(age[k], 1_000)
    return s


def _read_doc(src: Any) -> Any:
    if isinstance(src, (Mapping, list)):
        return json.loads(json.dumps(src))
    if isinstance(src, str) and src.lstrip()[:1] in ("{", "["):
        text, suffix, where = src, ".json", "(document)"
    else:
        path = Path(os.fspath(src))
        text = read_text(path, "damo parameter file (`damo args damon --format json`)")
        suffix, where = path.suffix.lower(), str(path)
    try:
        if suffix in (".yaml", ".yml"):
            return parse_yaml(text, where)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            try:
                return parse_yaml(text, where)
            except YamlError:
                raise DamoFormatError([f"{where}: not JSON or YAML: {e}"]) from None
    except YamlError as e:
        raise DamoFormatError([str(e)]) from None


def load_damon_params(src: str | os.PathLike[str] | Mapping[str, Any], *, raw: bool = False) -> DamonParams:
    """Read a ``{"kdamonds": [...]}`` document from a JSON/YAML file, a JSON string or a dict.

    ``raw=True`` reads the output of ``damo ... --raw``, whose quota times, age bounds and
    watermark interval are nanoseconds. Raises :class:`DamoFormatError` (a ValueError) with one
    line per problem.
    """
    try:
        return _load_damon_params(src, raw)
    except DamoFormatError as e:
        if isinstance(src, (str, os.PathLike)) and not (isinstance(src, str)
                                                       and src.lstrip()[:1] in ("{", "[")):
            name = os.fspath(src)
            raise DamoFormatError([p if p.startswith(name) else f"{name}: {p}"
                                   for p in e.problems]) from None
        raise


def _load_damon_params(src: Any, raw: bool) -> DamonParams:
    doc = _read_doc(src)
    if isinstance(doc, list):
        raise DamoFormatError(["(document): a list of schemes; use load_schemes() for the "
                               "--schemes form, or wrap it as {\"kdamonds\": [...]}"])
    if not isinstance(doc, dict) or "kdamonds" not in doc:
        raise DamoFormatError(["kdamonds: missing (expected a {\"kdamonds\": [...]} document)"])
    if raw:
        for k in doc.get("kdamonds") or []:
            for c in (k.get("contexts") or []) if isinstance(k, dict) else []:
                if isinstance(c, dict) and isinstance(c.get("schemes"), list):
                    c["schemes"] = [_unraw_scheme(s) for s in c["schemes"]]
    try:
        return DamonParams.model_validate(doc)
    except ValidationError as e:
        raise DamoFormatError(problems_of(e)) from None


_SCHEMES = TypeAdapter(list[SchemeParams])


def load_schemes(src: str | os.PathLike[str] | list[Any], *, raw: bool = False) -> list[SchemeParams]:
    """Read damo's ``--schemes`` form: a bare list of scheme objects (extra keys such as the
    ``name`` of damon-tests' files are ignored)."""
    doc = _read_doc(src)
    if not isinstance(doc, list):
        raise DamoFormatError(["(document): expected a list of scheme objects"])
    if raw:
        doc = [_unraw_scheme(s) for s in doc]
    try:
        return _SCHEMES.validate_python(doc)
    except ValidationError as e:
        raise DamoFormatError(problems_of(e, root="schemes")) from None


# ---------------------------------------------------------------- writing

def _ms(ms: int) -> str:
    return "max" if ms >= U64_MAX else format_time_us(ms * 1000)


def _us(us: int) -> str:
    return format_time_us(us)


def _nr_bound(b: tuple[str, int | float]) -> str:
    unit, v = b
    if unit == "samples":
        return f"{fmt_int(int(v))} samples"
    return fmt_percent(v)


def _age_bound(b: tuple[str, int]) -> str:
    unit, v = b
    if unit == "aggr_intervals":
        return f"{fmt_int(v)} aggr_intervals"
    return _us(v)


def _access_pattern(a: AccessPatternParams) -> dict[str, Any]:
    return {
        "sz_bytes": {"min": format_size(a.sz_bytes.min), "max": format_size(a.sz_bytes.max)},
        "nr_accesses": {"min": _nr_bound(a.nr_accesses.min), "max": _nr_bound(a.nr_accesses.max)},
        "age": {"min": _age_bound(a.age.min), "max": _age_bound(a.age.max)},
    }


def _quotas(q: QuotaParams) -> dict[str, Any]:
    goals = []
    for g in q.goals:
        # bare numbers: bp for *_bp metrics, us for some_mem_psi_us (as damo writes them)
        goals.append({
            "metric": g.metric, "complement": g.complement,
            "nid": None if g.nid is None else fmt_int(g.nid), "memcg_path": g.memcg_path,
            "target_value": fmt_int(g.target_value), "current_value": fmt_int(g.current_value),
        })
    return {
        "time_ms": _ms(q.time_ms),
        "sz_bytes": format_size(q.sz_bytes),
        "reset_interval_ms": _ms(q.reset_interval_ms),
        "fail_charge_num": fmt_int(q.fail_charge_num),
        "fail_charge_denom": fmt_int(q.fail_charge_denom),
        "goals": goals,
        "goal_tuner": q.goal_tuner,
        "effective_sz_bytes": format_size(q.effective_sz_bytes),
        "weights": {
            "sz_permil": fmt_percent_of(q.weights.sz_permil, 1000),
            "nr_accesses_permil": fmt_percent_of(q.weights.nr_accesses_permil, 1000),
            "age_permil": fmt_percent_of(q.weights.age_permil, 1000),
        },
    }


def _filter(f: FilterParams) -> dict[str, Any]:
    ar = f.address_range
    hp = f.hugepage_size
    return {
        "filter_type": f.filter_type, "matching": f.matching, "allow": f.allow,
        "memcg_path": f.memcg_path,
        "address_range": None if ar is None else {"start": fmt_int(ar[0]), "end": fmt_int(ar[1])},
        "damon_target_idx": None if f.damon_target_idx is None else fmt_int(f.damon_target_idx),
        "hugepage_size": None if hp is None else [format_size(hp[0]), format_size(hp[1])],
        "probe_hits_wsum_range": None,
    }


def dump_scheme(s: SchemeParams) -> dict[str, Any]:
    out: dict[str, Any] = {"action": s.action,
                           "dests": [{"id": i, "weight": w} for i, w in s.dests]}
    if s.action in ("migrate_hot", "migrate_cold"):
        out["target_nid"] = s.target_nid
    w = s.watermarks
    out.update({
        "access_pattern": _access_pattern(s.access_pattern),
        "apply_interval_us": _us(s.apply_interval_us),
        "quotas": _quotas(s.quotas),
        "watermarks": {
            "metric": w.metric, "interval_us": _us(w.interval_us),
            "high_permil": fmt_percent_of(w.high_permil, 1000),
            "mid_permil": fmt_percent_of(w.mid_permil, 1000),
            "low_permil": fmt_percent_of(w.low_permil, 1000),
        },
        "filters": [_filter(f) for f in s.filters],
    })
    if s.max_nr_snapshots is not None:
        out["max_nr_snapshots"] = fmt_int(s.max_nr_snapshots)
    return out


def _context(c: ContextParams) -> dict[str, Any]:
    i, g = c.intervals, c.intervals.intervals_goal
    prim = c.sample_control.primitives_enabled
    return {
        "ops": c.ops,
        "addr_unit": format_size(c.addr_unit),
        "targets": [{"pid": t.pid, "obsolete": t.obsolete,
                     "regions": [{"start": fmt_int(s), "end": fmt_int(e)} for s, e in t.regions]}
                    for t in c.targets],
        "intervals": {
            "sample_us": _us(i.sample_us), "aggr_us": _us(i.aggr_us),
            "ops_update_us": _us(i.ops_update_us),
            "intervals_goal": {
                "access_bp": fmt_percent_of(g.access_bp, 10000), "aggrs": fmt_int(g.aggrs),
                "min_sample_us": _us(g.min_sample_us), "max_sample_us": _us(g.max_sample_us),
            },
        },
        "nr_regions": {"min": fmt_int(c.nr_regions.min), "max": fmt_int(c.nr_regions.max)},
        "probes": [],
        "sample_control": {"primitives_enabled": {"page_table": prim.page_table,
                                                  "page_fault": prim.page_fault},
                           "sample_filters": []},
        "pause": c.pause,
        "schemes": [dump_scheme(s) for s in c.schemes],
    }


def _kdamond(k: KdamondParams) -> dict[str, Any]:
    refresh: int | str = k.refresh_ms if k.refresh_ms < U64_MAX else "max"
    return {"refresh_ms": refresh, "contexts": [_context(c) for c in k.contexts]}


def dump_damon_params(params: DamonParams) -> dict[str, Any]:
    """The ``{"kdamonds": [...]}`` document in damo's human units (exact; damo reads it back)."""
    return {"kdamonds": [_kdamond(k) for k in params.kdamonds]}


def dump_schemes(schemes: list[SchemeParams]) -> list[dict[str, Any]]:
    """damo's ``--schemes`` list form."""
    return [dump_scheme(s) for s in schemes]


def save_damon_params(params: DamonParams, path: str | os.PathLike[str]) -> None:
    """Write ``params`` as JSON (indent 4, as damo does), or YAML for a .yaml/.yml path,
    atomically (temporary file + os.replace)."""
    doc = dump_damon_params(params)
    if Path(os.fspath(path)).suffix.lower() in (".yaml", ".yml"):
        data = yaml.safe_dump(doc, sort_keys=False).encode()
    else:
        data = (json.dumps(doc, indent=4) + "\n").encode()
    atomic_write_bytes(path, data)
