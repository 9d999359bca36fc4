"""Read the guest's serial console (the ``KR_*`` lines kernel_harness/init and runner.c
print) into one run: kernel, nodes, the time DAMON was turned on, region snapshots, scheme
stats, node memory and the workload's per-node page counts over time; and turn a run into a
damo-format record.

Times in a run are seconds since ``KR_ON`` (the kdamonds turned on); the console carries guest
uptimes. A run the guest refused (``KR_UNSUPPORTED``, ``KR_WRITE_FAIL``, ``KR_REFUSED``) keeps
the reason and no data. Lines that are not ``KR_*`` (kernel messages, qemu) are ignored; a
``KR_*`` line that does not parse is an error naming the line number.
"""

from __future__ import annotations

import re
from pathlib import Path

from damon_gym.fidelity import HarnessError

_INT = re.compile(r"^-?\d+$")
_NUM = re.compile(r"^-?\d+(\.\d+)?$")


def _kv(fields: list[str], lineno: int, tag: str) -> dict:
    out = {}
    for f in fields:
        k, eq, v = f.partition("=")
        if not eq or not k:
            raise HarnessError(f"console line {lineno}: {tag}: field {f!r} is not key=value")
        out[k] = int(v) if _INT.match(v) else float(v) if _NUM.match(v) else v
    return out


def _need(d: dict, keys: tuple, lineno: int, tag: str) -> None:
    for k in keys:
        if k not in d:
            raise HarnessError(f"console line {lineno}: {tag}: missing field {k!r}")


def parse_console(text: str) -> dict:
    """The run in ``text`` (one guest boot). Raises HarnessError when the guest never booted
    the init, or a KR line is malformed."""
    run: dict = {"kernel": None, "nodes": [], "t_on_up": None, "snapshots": [], "stats": [],
                 "mem": [], "pages": [], "regions": {}, "refused": None, "done": False,
                 "workload": {}, "scheme_files": []}
    snap = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        i = raw.find("KR_")
        if i < 0:
            continue
        parts = raw[i:].split()
        tag, fields = parts[0], parts[1:]
        if tag == "KR_R":
            if snap is None:
                raise HarnessError(f"console line {lineno}: KR_R before any KR_SNAP")
            if len(fields) != 4 or not all(_INT.match(x) for x in fields):
                raise HarnessError(f"console line {lineno}: KR_R: expected 4 integers "
                                   "(start end nr_accesses age), got " + " ".join(fields))
            snap["regions"].append([int(x) for x in fields])
            continue
        if tag == "KR_SCHEME_FILES":
            run["scheme_files"] = fields
            continue
        if tag == "KR_NOTE":
            run.setdefault("notes", []).append(" ".join(fields))
            continue
        d = _kv(fields, lineno, tag)
        if tag == "KR_BOOT":
            _need(d, ("kernel", "up"), lineno, tag)
            run["kernel"] = str(d["kernel"])
            run["boot_up"] = d["up"]
            run["harness"] = {k: d[k] for k in ("dur", "snap", "flush_us", "cpu") if k in d}
        elif tag == "KR_NODE":
            _need(d, ("nid", "start", "end"), lineno, tag)
            run["nodes"].append(d)
        elif tag == "KR_ON":
            _need(d, ("up",), lineno, tag)
            run["t_on_up"] = d["up"]
        elif tag == "KR_SNAP":
            _need(d, ("kd", "scheme", "up", "nr"), lineno, tag)
            snap = {"tag": d.get("tag", "run"), "kd": d["kd"], "scheme": d["scheme"],
                    "up": d["up"], "total_bytes": d.get("total_bytes", 0), "regions": [],
                    "nr_announced": d["nr"]}
            run["snapshots"].append(snap)
        elif tag == "KR_STATS":
            _need(d, ("kd", "scheme", "up", "action"), lineno, tag)
            run["stats"].append(d)
        elif tag == "KR_MEM":
            _need(d, ("nid", "up"), lineno, tag)
            run["mem"].append(d)
        elif tag == "KR_PAGES":
            _need(d, ("up", "region"), lineno, tag)
            nodes = {int(k[1:]): v for k, v in d.items() if re.fullmatch(r"n\d+", k)}
            run["pages"].append({"tag": d.get("tag"), "up": d["up"], "region": str(d["region"]),
                                 "none": d.get("none", 0), "nodes": nodes})
        elif tag == "KR_WL_REGION":
            _need(d, ("name", "start", "end"), lineno, tag)
            run["regions"][str(d["name"])] = [d["start"], d["end"]]
        elif tag in ("KR_WL_START", "KR_WL_READY", "KR_WL_END"):
            run["workload"][tag[6:].lower()] = d
        elif tag == "KR_WL_UNMOVABLE":
            run["workload"].setdefault("unmovable", []).append(d)
        elif tag in ("KR_UNSUPPORTED", "KR_WRITE_FAIL"):
            run["refused"] = {"what": tag[3:].lower(), **d}
        elif tag == "KR_REFUSED":
            run["refused"] = {**(run["refused"] or {}), "reason": d.get("reason"),
                              "kernel": d.get("kernel")}
        elif tag == "KR_WL_ERROR":
            run["refused"] = {"what": "workload_error", "message": " ".join(fields)}
        elif tag == "KR_DONE":
            run["done"] = True
        elif tag == "KR_NOTE":
            run.setdefault("notes", []).append(" ".join(fields))
        elif tag in ("KR_WL_PHASE",):
            pass
        else:
            raise HarnessError(f"console line {lineno}: unknown tag {tag}")
    if run["kernel"] is None:
        raise HarnessError("console: no KR_BOOT line: the guest did not reach the harness init "
                           "(look at the log for a kernel panic or qemu error)")
    for s in run["snapshots"]:
        if len(s["regions"]) != s["nr_announced"]:
            raise HarnessError(f"console: snapshot kd={s['kd']} scheme={s['scheme']} at "
                               f"up={s['up']} announced {s['nr_announced']} regions, has "
                               f"{len(s['regions'])} (a truncated log?)")
        s["split_overlaps"] = _unsplit(s["regions"])
    _relative_times(run)
    return run


def _unsplit(regions: list[list[int]]) -> int:
    """Sort by start and resolve overlaps in place; returns how many there were. A scheme
    that splits a region during the apply walk (a quota's end) makes the walk visit the tail
    again, so an earlier scheme's tried_regions holds the whole region and then its tail
    ([a, e) then [b, e), seen on 7.3): the first entry is cut at b, the state after the
    split."""
    regions.sort(key=lambda r: (r[0], -r[1]))
    n = 0
    for i in range(1, len(regions)):
        if regions[i][0] < regions[i - 1][1]:
            regions[i - 1][1] = regions[i][0]
            n += 1
    kept = [r for r in regions if r[1] > r[0]]
    regions[:] = kept
    return n


def _relative_times(run: dict) -> None:
    t0 = run["t_on_up"]
    if t0 is None:
        return
    for key in ("snapshots", "stats", "mem", "pages"):
        for item in run[key]:
            item["t"] = round(item["up"] - t0, 3)


def read_console(path: Path) -> dict:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read the console log: {e.strerror}") from None
    try:
        return parse_console(text)
    except HarnessError as e:
        raise HarnessError(f"{path}: {e}") from None


def run_record(run: dict, aggr_us: dict[int, int], sample_us: dict[int, int]):
    """The run's region snapshots as damo records: one per (kdamond, scheme) that has
    snapshots, target 0; each snapshot covers the aggregation interval that ended at its
    time (``tried_regions`` shows the regions of the last apply)."""
    from damon_gym.formats.record import (
        DamonRecord,
        RecordIntervals,
        RecordSnapshot,
        RegionArrays,
    )

    by_key: dict[tuple[int, int], DamonRecord] = {}
    for s in run["snapshots"]:
        if "t" not in s or not s["regions"]:
            continue
        kd, sc = s["kd"], s["scheme"]
        rec = by_key.get((kd, sc))
        if rec is None:
            iv = RecordIntervals(sample_us.get(kd, 5000), aggr_us.get(kd, 100000), 1_000_000)
            rec = by_key[(kd, sc)] = DamonRecord(kd, 0, sc, 0, iv, data_source="kernel-run")
        end_ns = int(round(s["t"] * 1e9))
        start_ns = max(end_ns - aggr_us.get(kd, 100000) * 1000, 0)
        if rec.snapshots and start_ns < rec.snapshots[-1].end_ns:
            start_ns = rec.snapshots[-1].end_ns
        if end_ns <= start_ns:
            continue
        rec.snapshots.append(RecordSnapshot(start_ns, end_ns, RegionArrays.from_list(s["regions"]),
                                            total_bytes=s.get("total_bytes") or None))
    return [by_key[k] for k in sorted(by_key)]
