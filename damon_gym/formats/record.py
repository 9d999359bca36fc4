"""damo's access-record file (``damon.data``): read and write [WF 2.2-2.4].

The file is a JSON list of records, one per kdamond/context/scheme/target, each holding the
monitoring intervals and a time-ordered list of snapshots of the target's regions. damo writes
it zlib-compressed (``json_compressed``, its default); that is the only form damo 3.4.3 reads
back reliably (``file`` 5.44 calls plain JSON "JSON text data", which damo no longer
recognises), so :func:`write_record` emits it by default.

Units: times in ns (``start_ns``), addresses and sizes in bytes, ``nr_accesses`` in samples
(positive sampling intervals in the aggregation window), ``age`` in aggregation intervals
(-1 where the file does not say, as in records converted from damo's old binary format).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.files import atomic_write_bytes
from damon_gym.formats._fields import DamoFormatError, to_bp
from damon_gym.units import (
    UnitError,
    format_time_us,
    parse_int,
    parse_percent,
    parse_size,
    parse_time,
)

__all__ = ["RegionArrays", "RecordSnapshot", "RecordIntervals", "DamonRecord", "read_record",
           "write_record", "merge_records", "wss_of_snapshot"]


@dataclass
class RegionArrays:
    """Struct-of-arrays regions of one snapshot: [start, end) bytes, nr_accesses (samples),
    age (aggregation intervals, -1 = unknown). Address-sorted, non-overlapping."""

    start: np.ndarray
    end: np.ndarray
    nr_accesses: np.ndarray
    age: np.ndarray

    def __post_init__(self) -> None:
        for name in ("start", "end", "nr_accesses", "age"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64).reshape(-1))
        n = len(self.start)
        if not (len(self.end) == len(self.nr_accesses) == len(self.age) == n):
            raise ValueError("regions: start, end, nr_accesses and age must have one length")

    @classmethod
    def from_list(cls, regions: Iterable[Sequence[int]]) -> RegionArrays:
        """From (start, end, nr_accesses[, age]) tuples; a missing age is -1 (unknown)."""
        rows = [tuple(r) + ((-1,) if len(r) == 3 else ()) for r in regions]
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        return cls(*(np.array(c, dtype=np.int64) for c in cols))

    def __len__(self) -> int:
        return len(self.start)

    @property
    def sizes(self) -> np.ndarray:
        return self.end - self.start


@dataclass
class RecordSnapshot:
    """One aggregation window [start_ns, end_ns) and its regions."""

    start_ns: int
    end_ns: int
    regions: RegionArrays
    total_bytes: int | None = None
    damos_stats: dict[str, int] | None = None
    sample_interval_us: int | None = None

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class RecordIntervalsGoal:
    """The ``intervals_goal`` a record's context ran with, as damo writes it (the file's own
    type, so that reading a record needs nothing of the simulator's ``damon`` layer and
    workloads/replay stays below it)."""

    access_bp: int = 0
    aggrs: int = 0
    min_sample_us: int = 0
    max_sample_us: int = 0


@dataclass(frozen=True)
class RecordIntervals:
    sample_us: int
    aggr_us: int
    ops_update_us: int
    intervals_goal: RecordIntervalsGoal | None = None


@dataclass
class DamonRecord:
    """The snapshots of one kdamond/context/scheme/target (damo's DamonRecord)."""

    kdamond_idx: int | None
    context_idx: int | None
    scheme_idx: int | None
    target_id: int | None
    intervals: RecordIntervals | None
    snapshots: list[RecordSnapshot] = field(default_factory=list)
    scheme_filters: list[dict[str, Any]] = field(default_factory=list)
    data_source: str = "unknown"

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kdamond_idx, self.context_idx, self.scheme_idx, self.target_id)

    def aggr_us_observed(self) -> float:
        """Median snapshot length in us: the real aggregation interval, which damo itself
        uses (it differs from ``intervals.aggr_us`` under auto-tuning or snapshot mode)."""
        if not self.snapshots:
            return float("nan")
        return float(np.median([s.duration_ns for s in self.snapshots])) / 1000.0


def wss_of_snapshot(snapshot: RecordSnapshot, acc_thres: int = 1, sz_thres: int = 1) -> int:
    """Working set size as ``damo report wss`` defines it: bytes of the regions with
    nr_accesses >= acc_thres and size >= sz_thres."""
    r = snapshot.regions
    sizes = r.sizes
    return int(sizes[(r.nr_accesses >= acc_thres) & (sizes >= sz_thres)].sum())


# ---------------------------------------------------------------- reading

class _Ctx:
    """The JSON path of the value being read, for error lines."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, key: str, value: Any, allowed: str) -> DamoFormatError:
        return DamoFormatError([f"{self.path}.{key}: got {value!r}; expected {allowed}"])


def _int(ctx: _Ctx, key: str, value: Any, unit: str = "") -> int:
    """Exact integers first (comma strings, "max"), then human units: ``unit`` is "bytes",
    "ns", "us" or "" (a plain count)."""
    try:
        return parse_int(value, key)
    except UnitError:
        pass
    try:
        if unit == "bytes":
            return parse_size(value, key)
        if unit in ("ns", "us"):
            return parse_time(value, key, unit)
    except UnitError:
        pass
    raise ctx.fail(key, value, {"bytes": "a size", "ns": "a time", "us": "a time"}.get(unit, "an integer"))


def _intervals(ctx: _Ctx, kv: Any) -> RecordIntervals | None:
    if kv is None:
        return None
    if not isinstance(kv, dict):
        raise ctx.fail("intervals", kv, "an object or null")
    goal = None
    g = kv.get("intervals_goal")
    if isinstance(g, dict):
        gctx = _Ctx(ctx.path + ".intervals.intervals_goal")
        try:
            bp = to_bp(g.get("access_bp", 0))
        except ValueError:
            raise gctx.fail("access_bp", g.get("access_bp"), "basis points") from None
        goal = RecordIntervalsGoal(bp, _int(gctx, "aggrs", g.get("aggrs", 0)),
                                   _int(gctx, "min_sample_us", g.get("min_sample_us", 0), "us"),
                                   _int(gctx, "max_sample_us", g.get("max_sample_us", 0), "us"))
    ictx = _Ctx(ctx.path + ".intervals")
    return RecordIntervals(_int(ictx, "sample_us", kv.get("sample_us", 5000), "us"),
                           _int(ictx, "aggr_us", kv.get("aggr_us", 100000), "us"),
                           _int(ictx, "ops_update_us", kv.get("ops_update_us", 1000000), "us"),
                           goal)


def _nr_accesses(ctx: _Ctx, v: Any, intervals: RecordIntervals | None) -> int:
    if not isinstance(v, dict):
        return _int(ctx, "nr_accesses", v)
    if v.get("samples") is not None:
        return _int(ctx, "nr_accesses.samples", v["samples"])
    if v.get("percent") is not None:
        if intervals is None:
            raise ctx.fail("nr_accesses.percent", v["percent"],
                           "samples (a percentage needs the record's intervals)")
        try:
            pct = parse_percent(v["percent"])
        except UnitError:
            raise ctx.fail("nr_accesses.percent", v["percent"], "a percentage") from None
        return int(pct * (intervals.aggr_us / max(intervals.sample_us, 1)) / 100)
    raise ctx.fail("nr_accesses", v, "samples or percent")


def _age(ctx: _Ctx, v: Any, intervals: RecordIntervals | None) -> int:
    if v is None:
        return -1
    if not isinstance(v, dict):
        return _int(ctx, "age", v)
    if v.get("aggr_intervals") is not None:
        return _int(ctx, "age.aggr_intervals", v["aggr_intervals"])
    if v.get("usec") is not None and intervals is not None:
        return _int(ctx, "age.usec", v["usec"], "us") // max(intervals.aggr_us, 1)
    return -1


def _snapshot(ctx: _Ctx, kv: Any, intervals: RecordIntervals | None) -> RecordSnapshot:
    if not isinstance(kv, dict) or not isinstance(kv.get("regions"), list):
        raise DamoFormatError([f"{ctx.path}: expected an object with a regions list"])
    cols: list[list[int]] = [[], [], [], []]
    for i, r in enumerate(kv["regions"]):
        rctx = _Ctx(f"{ctx.path}.regions[{i}]")
        if not isinstance(r, dict):
            raise DamoFormatError([f"{rctx.path}: expected a region object"])
        cols[0].append(_int(rctx, "start", r.get("start"), "bytes"))
        cols[1].append(_int(rctx, "end", r.get("end"), "bytes"))
        cols[2].append(_nr_accesses(rctx, r.get("nr_accesses"), intervals))
        cols[3].append(_age(rctx, r.get("age"), intervals))
    regions = RegionArrays(*(np.array(c, dtype=np.int64) for c in cols))
    if len(regions) > 1 and np.any(np.diff(regions.start) < 0):
        order = np.argsort(regions.start, kind="stable")
        regions = RegionArrays(regions.start[order], regions.end[order],
                               regions.nr_accesses[order], regions.age[order])
    end = _int(ctx, "end_time", kv.get("end_time"), "ns")
    start = kv.get("start_time")
    start_ns = -1 if start is None else _int(ctx, "start_time", start, "ns")
    sample = kv.get("sample_interval_us")
    if sample is not None:
        # damo writes records raw, and its raw form of this key is ns [WF 2.9]:
        # a bare number is ns, a unit string ("5 ms") means what it says
        try:
            sample = (parse_int(sample) + 500) // 1000
        except UnitError:
            sample = _int(ctx, "sample_interval_us", sample, "us")
    stats = kv.get("damos_stats")
    if isinstance(stats, dict):
        sctx = _Ctx(ctx.path + ".damos_stats")
        stats = {k: _int(sctx, k, v, "bytes") for k, v in stats.items() if v is not None}
    total = kv.get("total_bytes")
    return RecordSnapshot(start_ns, end, regions,
                          None if total is None else _int(ctx, "total_bytes", total, "bytes"),
                          stats if isinstance(stats, dict) else None, sample)


def _is_fake(s: RecordSnapshot) -> bool:
    """damo's trailing placeholder: one region 0-0 with samples -1 and age -1."""
    r = s.regions
    return (len(r) == 1 and r.start[0] == 0 and r.end[0] == 0 and r.nr_accesses[0] == -1
            and r.age[0] == -1)


def _record(i: int, kv: Any) -> DamonRecord:
    ctx = _Ctx(f"records[{i}]")
    if not isinstance(kv, dict) or not isinstance(kv.get("snapshots"), list):
        raise DamoFormatError([f"{ctx.path}: expected an object with a snapshots list"])
    intervals = _intervals(ctx, kv.get("intervals"))
    idx = {k: (None if kv.get(k) is None else _int(ctx, k, kv[k]))
           for k in ("kdamond_idx", "context_idx", "scheme_idx", "target_id")}
    snaps = [_snapshot(_Ctx(f"{ctx.path}.snapshots[{j}]"), s, intervals)
             for j, s in enumerate(kv["snapshots"])]
    if snaps and _is_fake(snaps[-1]):
        snaps.pop()
    for j, s in enumerate(snaps):            # a null start: the previous end, or one mean length
        if s.start_ns < 0:
            if j > 0:
                s.start_ns = snaps[j - 1].end_ns
            elif len(snaps) > 1:
                s.start_ns = s.end_ns - (snaps[-1].end_ns - s.end_ns) // (len(snaps) - 1)
            else:
                s.start_ns = s.end_ns - (intervals.aggr_us * 1000 if intervals else 0)
    filters = kv.get("scheme_filters") or []
    return DamonRecord(idx["kdamond_idx"], idx["context_idx"], idx["scheme_idx"],
                       idx["target_id"], intervals, snaps,
                       [dict(f) for f in filters if isinstance(f, dict)],
                       str(kv.get("data_source", "unknown")))


def merge_records(records: Iterable[DamonRecord]) -> list[DamonRecord]:
    """Merge records of the same kdamond/context/scheme/target (snapshot-mode files hold one
    record per capture), snapshots sorted by start time; the first intervals are kept."""
    merged: dict[tuple[Any, ...], DamonRecord] = {}
    for r in records:
        if r.key in merged:
            m = merged[r.key]
            m.snapshots = sorted(m.snapshots + r.snapshots, key=lambda s: s.start_ns)
            if m.intervals is None:
                m.intervals = r.intervals
        else:
            merged[r.key] = DamonRecord(r.kdamond_idx, r.context_idx, r.scheme_idx, r.target_id,
                                        r.intervals, list(r.snapshots), list(r.scheme_filters),
                                        r.data_source)
    return list(merged.values())


def read_record(path: str | os.PathLike[str], *, merge: bool = True) -> list[DamonRecord]:
    """Read a damo record: zlib-compressed JSON or plain JSON. Tolerant as
    [WF 2.4] asks: comma strings and human units, null percent/usec (derived from the other),
    missing optional keys, damo's trailing fake snapshot dropped, and (``merge``) records with
    equal kdamond/context/scheme/target merged."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as e:
        raise DamoFormatError([f"{name}: cannot read the record: {e.strerror or e}"]) from None
    try:
        data = zlib.decompress(data)
    except zlib.error:
        pass
    try:
        doc = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamoFormatError([f"{name}: neither zlib-compressed JSON nor JSON: {e}"]) from None
    if isinstance(doc, dict):                # the future versioned wrapper, if it ever comes
        doc = (doc.get("damon_records") or doc).get("record_list", doc)
    if not isinstance(doc, list):
        raise DamoFormatError([f"{name}: expected a JSON list of records"])
    try:
        records = [_record(i, kv) for i, kv in enumerate(doc)]
    except DamoFormatError as e:
        raise DamoFormatError([f"{name}: {p}" for p in e.problems]) from None
    return merge_records(records) if merge else records


# ---------------------------------------------------------------- writing

def _check(i: int, j: int, s: RecordSnapshot) -> None:
    where = f"records[{i}].snapshots[{j}]"
    if s.end_ns < s.start_ns:
        raise ValueError(f"{where}: end_ns {s.end_ns} is before start_ns {s.start_ns}")
    r = s.regions
    bad = np.flatnonzero(r.start >= r.end)
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{where}.regions[{k}]: start {r.start[k]:,} is not below end {r.end[k]:,}")
    over = np.flatnonzero(r.start[1:] < r.end[:-1])
    if over.size:
        k = int(over[0]) + 1
        raise ValueError(f"{where}.regions[{k}]: starts at {r.start[k]:,}, before the previous "
                         f"region's end {r.end[k - 1]:,} (regions must be sorted, not overlapping)")


def _snapshot_kv(s: RecordSnapshot) -> dict[str, Any]:
    r = s.regions
    regions = [{"start": a, "end": b, "nr_accesses": {"samples": n, "percent": None},
                "age": {"usec": None, "aggr_intervals": g if g >= 0 else None}}
               for a, b, n, g in zip(r.start.tolist(), r.end.tolist(), r.nr_accesses.tolist(),
                                     r.age.tolist(), strict=True)]
    total = s.total_bytes if s.total_bytes is not None else int(r.sizes.sum())
    return {"start_time": int(s.start_ns), "end_time": int(s.end_ns), "regions": regions,
            "total_bytes": total, "damos_stats": s.damos_stats,
            # a unit string: damo's own raw form of this key is ambiguous (ns under a _us name)
            "sample_interval_us": None if s.sample_interval_us is None
            else format_time_us(s.sample_interval_us)}


def _record_kv(r: DamonRecord) -> dict[str, Any]:
    iv: dict[str, Any] | None = None
    if r.intervals is not None:
        iv = {"sample_us": r.intervals.sample_us, "aggr_us": r.intervals.aggr_us,
              "ops_update_us": r.intervals.ops_update_us}
        g = r.intervals.intervals_goal
        if g is not None:
            iv["intervals_goal"] = {"access_bp": g.access_bp, "aggrs": g.aggrs,
                                    "min_sample_us": g.min_sample_us,
                                    "max_sample_us": g.max_sample_us}
    return {"kdamond_idx": r.kdamond_idx, "context_idx": r.context_idx, "intervals": iv,
            "scheme_idx": r.scheme_idx, "target_id": r.target_id,
            "scheme_filters": r.scheme_filters,
            "snapshots": [_snapshot_kv(s) for s in r.snapshots], "data_source": r.data_source}


def write_record(path: str | os.PathLike[str], records: Sequence[DamonRecord],
                 fmt: str = "json_compressed") -> None:
    """Write ``records`` as damo's record file: ``json_compressed`` (zlib, what damo reads) or
    ``json`` (plain; damo 3.4.3 cannot read it on systems whose ``file`` says "JSON text
    data"). Plain integers for addresses and times [WF 2.3]. Atomic: a temporary file replaces
    ``path`` only when complete, so an error or Ctrl-C leaves nothing half-written."""
    if fmt not in ("json_compressed", "json"):
        raise ValueError(f"fmt: got {fmt!r}; expected 'json_compressed' or 'json'")
    for i, rec in enumerate(records):
        for j, s in enumerate(rec.snapshots):
            _check(i, j, s)
    text = json.dumps([_record_kv(r) for r in records], separators=(",", ":"))
    data = zlib.compress(text.encode()) if fmt == "json_compressed" else text.encode()
    atomic_write_bytes(path, data)

