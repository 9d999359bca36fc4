"""What DAMOS did, interval by interval: every scheme's stats and the node-to-node migration.

A :class:`DamosStatsCollector` watches a running :class:`~damon_gym.simulation.Simulation`
(no gymnasium): each :meth:`~DamosStatsCollector.sample` closes one interval and keeps, per
scheme, the increments of the kernel's cumulative counters over it (``nr_tried``, ``sz_tried``,
``nr_applied``, ``sz_applied``, ``sz_ops_filter_passed``, ``qt_exceeds``), the effective quota
``esz`` and every quota goal's current and target value at its end, and the bytes migrated from
each node to each node in it. Every byte is the real machine's (the scale rule): scheme stats
and ``esz`` already are, the migration matrix is converted with ``Simulation.byte_scale``.

The collector reads ``MemorySystem.total_churn`` (never reset), so it can run beside
``Simulation.perf_step`` (which takes and resets the per-step churn). The per-interval values of
a counter add up to the scheme's total in ``Simulation.stats()``; the per-interval matrices add
up to the total matrix, whose sum is ``stats()["migrated_bytes"]``.

Optionally (``node_map=True``) each sample also keeps, per monitored target, which node each
DAMON region's pages sit on (the node holding 2/3 of its allocated pages, or "mixed"), in the
address space of the record the :class:`~damon_gym.recorder.Recorder` writes, so
``damon-gym heatmap --nodes`` can draw it beside the access heatmap.

The text helpers format sizes and times the way ``damo`` prints them ("1.234 GiB", "1.500 s",
"1,234").
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.simulation import Simulation

FORMAT = "damon-gym/damos-stats-v1"
COUNTERS = ("nr_tried", "sz_tried", "nr_applied", "sz_applied", "sz_ops_filter_passed",
            "qt_exceeds")
U64_MAX = 2**64 - 1
#: node_map value of a region with no node holding 2/3 of its pages
MIXED = -2

__all__ = ["DamosStatsCollector", "fmt_sz", "fmt_time_s", "fmt_nr", "scheme_lines",
           "migration_lines", "plot_stats", "FORMAT", "COUNTERS"]


# -------------------------------------------------------------------- damo-style units
def fmt_nr(n: int | float) -> str:
    """An integer with thousands separators, as damo prints counts ("1,234")."""
    return f"{int(n):,}"


def fmt_sz(n: int | float) -> str:
    """Bytes as damo prints them: three decimals in the largest binary unit the size exceeds
    ("200.000 MiB"), plain bytes below 1 KiB ("3 B"), "max" for ULONG_MAX."""
    n = float(n)
    if n >= float(U64_MAX):
        return "max"
    for shift, unit in ((60, "EiB"), (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"),
                        (10, "KiB")):
        if abs(n) > (1 << shift):
            return f"{n / (1 << shift):.3f} {unit}"
    return f"{int(n)} B"


def fmt_time_s(seconds: float) -> str:
    """A duration as damo prints one: whole units bare ("1 s", "100 ms"), else three decimals
    ("1.500 s"); "max" for ULONG_MAX milliseconds and more."""
    ns = float(seconds) * 1e9
    if ns >= U64_MAX * 1e6:
        return "max"
    for unit_ns, unit in ((3600e9, "h"), (60e9, "m"), (1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if abs(ns) >= unit_ns:
            v = ns / unit_ns
            return f"{int(round(v))} {unit}" if abs(v - round(v)) < 1e-9 else f"{v:.3f} {unit}"
    return f"{int(round(ns))} ns"


# -------------------------------------------------------------------- the collector
def _node_runs(sim: Simulation, binding, target) -> list[list[int]]:
    """``[start, end, node]`` runs over the target's DAMON regions: the node holding at least
    2/3 of each region's allocated pages, ``MIXED`` (-2) if none does (an interleaved region),
    -1 if no page is allocated; adjacent regions with the same value merged."""
    mem = sim.memory
    r = target.regions
    starts, ends = np.asarray(r.start, np.int64), np.asarray(r.end, np.int64)
    if not len(starts):
        return []
    ps = mem.page_size
    nn = mem.nr_nodes
    if binding.ops == "paddr":
        fnode = np.asarray(mem.frame_node, np.int64)
        alloc = np.asarray(mem.frame_proc) >= 0 if hasattr(mem, "frame_proc") else np.ones_like(fnode, bool)
        addrs = np.arange(len(fnode), dtype=np.int64) * ps
        nodes = np.where(alloc, fnode, -1)
    else:
        if target.proc_idx is None:
            return []
        proc = mem.procs[target.proc_idx]
        pages = np.arange(len(proc.vpage_node), dtype=np.int64)
        addrs = np.asarray(proc.page_addresses(pages), np.int64)
        nodes = np.asarray(proc.vpage_node, np.int64)
    i0 = np.searchsorted(addrs, starts)
    i1 = np.searchsorted(addrs, ends)
    counts = np.zeros((len(starts), nn), dtype=np.int64)
    for n in range(nn):
        cum = np.concatenate([[0], np.cumsum(nodes == n)])
        counts[:, n] = cum[i1] - cum[i0]
    tot = counts.sum(axis=1)
    major = np.where(tot > 0, counts.argmax(axis=1), -1)
    # no node holds 2/3 of the allocated pages (an interleaved region): "mixed"
    major = np.where((tot > 0) & (3 * counts.max(axis=1) < 2 * tot), MIXED, major)
    runs: list[list[int]] = []
    for s, e, n in zip(starts.tolist(), ends.tolist(), major.tolist(), strict=True):
        if runs and runs[-1][2] == n and runs[-1][1] == s:
            runs[-1][1] = e
        else:
            runs.append([s, e, n])
    return runs


class DamosStatsCollector:
    """Per-interval DAMOS stats and node-to-node migration of one simulation (see the module
    docstring). Create it before running (it takes the current counters as its baseline),
    call :meth:`sample` at the end of each interval, then :meth:`to_dict` or :meth:`write`."""

    def __init__(self, sim: Simulation, *, node_map: bool = False) -> None:
        self.sim = sim
        self.node_map = node_map
        self.t0_s = sim.now_us / 1e6
        self.times_s: list[float] = []
        self.perf: list[float | None] = []
        self._keys = [(b.kdamond_idx, b.context_idx, si) for b in sim.bindings
                      for si in range(len(sim.schemes(b.kdamond_idx, b.context_idx)))]
        self._last = {k: self._counters(s) for k, s in zip(self._keys, self._schemes(), strict=True)}
        self._series: dict[tuple, dict[str, list]] = {k: {c: [] for c in COUNTERS} | {
            "esz": [], "active": [], "goals": []} for k in self._keys}
        self._churn_last = self._real_churn()
        self.migration: list[list[list[int]]] = []
        self.nodes_maps: list[dict] = []

    # -- reading the simulation
    def _schemes(self) -> list:
        return [s for b in self.sim.bindings
                for s in self.sim.schemes(b.kdamond_idx, b.context_idx)]

    @staticmethod
    def _counters(s) -> dict[str, int]:
        st = s.stats
        return {c: int(getattr(st, c)) for c in COUNTERS}

    def _real_churn(self) -> np.ndarray:
        m = np.asarray(self.sim.memory.total_churn, dtype=np.float64)
        return np.round(m * self.sim.byte_scale).astype(np.int64)

    def sample(self, perf: Any = None) -> None:
        """Close the interval ending now; ``perf`` (a ``PerfStep`` of the same interval, or
        its X/X*) is kept beside it."""
        sim = self.sim
        schemes = self._schemes()
        if len(schemes) != len(self._keys):
            raise ValueError("the number of running schemes changed; collect each "
                             "configuration with its own DamosStatsCollector")
        self.times_s.append(sim.now_us / 1e6)
        if perf is not None and not isinstance(perf, (int, float)):
            perf = float(perf.perf)
        # None where X/X* is undefined (no workload left: X* = 0), so the JSON stays JSON
        self.perf.append(None if perf is None or not np.isfinite(perf) else float(perf))
        for k, s in zip(self._keys, schemes, strict=True):
            cur = self._counters(s)
            ser = self._series[k]
            for c in COUNTERS:
                ser[c].append(cur[c] - self._last[k][c])
            self._last[k] = cur
            ser["esz"].append(int(s.qstate.esz))
            ser["active"].append(bool(s.wmark_active))
            ser["goals"].append([[int(g.current_value), int(g.target_value)]
                                 for g in s.quota.goals])
        churn = self._real_churn()
        self.migration.append((churn - self._churn_last).tolist())
        self._churn_last = churn
        if self.node_map:
            from damon_gym.recorder import EPOCH_NS

            targets = []
            for b in sim.bindings:
                for ti, t in enumerate(b.context.targets):
                    targets.append({"kdamond_idx": b.kdamond_idx, "context_idx": b.context_idx,
                                    "target_idx": ti, "runs": _node_runs(sim, b, t)})
            self.nodes_maps.append({"time_ns": EPOCH_NS + sim.now_us * 1000,
                                    "targets": targets})

    # -- results
    def to_dict(self) -> dict:
        sim = self.sim
        st = sim.stats()
        schemes = []
        by_key = {(c["kdamond_idx"], c["context_idx"]): c for c in st["contexts"]}
        for (ki, ci, si), s in zip(self._keys, self._schemes(), strict=True):
            q = s.quota
            ser = self._series[(ki, ci, si)]
            tot = by_key[(ki, ci)]["schemes"][si]
            schemes.append({
                "kdamond_idx": ki, "context_idx": ci, "scheme_idx": si, "action": s.action,
                "ops": next(b.ops for b in sim.bindings
                            if (b.kdamond_idx, b.context_idx) == (ki, ci)),
                "dests": [list(d) for d in s.dests], "target_nid": s.target_nid,
                "apply_interval_us": s.apply_interval_us,
                "quota": {"time_ms": q.ms, "sz_bytes": q.sz, "reset_interval_ms": q.reset_interval_ms,
                          "goal_tuner": q.goal_tuner, "set": bool(s.quota_set),
                          "goals": [{"metric": g.metric, "nid": g.nid} for g in q.goals]},
                "total": {c: int(tot[c]) for c in COUNTERS} | {"esz": int(tot["esz"])},
                "intervals": {c: ser[c] for c in COUNTERS} | {
                    "esz": ser["esz"], "active": ser["active"],
                    "goals_current_value": [[g[0] for g in gs] for gs in ser["goals"]],
                    "goals_target_value": [[g[1] for g in gs] for gs in ser["goals"]]},
            })
        total = np.asarray(self._churn_last) - np.asarray(self._real_churn_at_start())
        out = {
            "format": FORMAT,
            "scenario": sim.scenario.name, "scenario_hash": sim.scenario.content_hash(),
            "seed": sim.seed, "topology": sim.topology.name,
            "byte_scale": sim.byte_scale,
            "nodes": [{"node": n["node"], "name": n["name"], "capacity_bytes": n["capacity_bytes"],
                       "used_bytes": n["used_bytes"]} for n in st["nodes"]],
            "start_s": self.t0_s, "times_s": self.times_s,
            "perf": self.perf if any(p is not None for p in self.perf) else None,
            "schemes": schemes,
            "migration": {"unit": "bytes", "per_interval": self.migration,
                          "total": total.tolist(), "total_bytes": int(total.sum()),
                          "pingpong_bytes": st["pingpong_bytes"]},
        }
        if self.node_map:
            out["node_map"] = self.nodes_maps
        return out

    def _real_churn_at_start(self) -> np.ndarray:
        if not self.migration:
            return self._churn_last
        return self._churn_last - np.sum(np.asarray(self.migration, dtype=np.int64), axis=0)

    def write(self, path: str | os.PathLike[str]) -> dict:
        """The :meth:`to_dict` document as JSON, written atomically. Returns it."""
        from damon_gym.files import atomic_path

        doc = self.to_dict()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        return doc


# -------------------------------------------------------------------- text
def _goal_name(metric: str, nid: int | None) -> str:
    return f"{metric} (nid {nid})" if nid is not None and metric.startswith("node_") else metric


def scheme_title(s: dict) -> str:
    where = f"kdamond {s['kdamond_idx']} context {s['context_idx']} scheme {s['scheme_idx']}"
    if s["action"].startswith("migrate"):
        if s["dests"] and s["ops"] == "vaddr":
            d = "dests " + ", ".join(f"node {n} weight {w}" for n, w in s["dests"])
        else:
            d = f"target_nid {s['target_nid']}"
        return f"{where}: {s['action']} ({d}, {s['ops']})"
    return f"{where}: {s['action']} ({s['ops']})"


def scheme_lines(doc: dict) -> list[str]:
    """Per scheme, damo's wording (``damo status``'s quota line and stats block): the quota
    as "time / size / effective size per reset interval", the goals, the totals, and the
    effective quota over time."""
    lines = []
    times = doc["times_s"]
    for s in doc["schemes"]:
        q, tot, iv = s["quota"], s["total"], s["intervals"]
        lines.append(scheme_title(s))
        lines.append(f"    quotas: {fmt_time_s(q['time_ms'] / 1e3)} / {fmt_sz(q['sz_bytes'])} / "
                     f"{fmt_sz(tot['esz'])} per {fmt_time_s(q['reset_interval_ms'] / 1e3)}"
                     + ("" if q["set"] else " (no quota set)"))
        for gi, g in enumerate(q["goals"]):
            cur = iv["goals_current_value"][-1][gi] if iv["goals_current_value"] else 0
            tgt = iv["goals_target_value"][-1][gi] if iv["goals_target_value"] else 0
            lines.append(f"    goal {gi}: metric {_goal_name(g['metric'], g['nid'])} "
                         f"target {fmt_nr(tgt)} current {fmt_nr(cur)}")
        lines.append(f"    stats: tried {fmt_nr(tot['nr_tried'])} times ({fmt_sz(tot['sz_tried'])}), "
                     f"applied {fmt_nr(tot['nr_applied'])} times ({fmt_sz(tot['sz_applied'])}), "
                     f"{fmt_sz(tot['sz_ops_filter_passed'])} passed filters, "
                     f"quota exceeded {fmt_nr(tot['qt_exceeds'])} times")
        if iv["esz"] and q["set"]:
            esz = iv["esz"]
            marks = sorted({0, len(esz) // 4, len(esz) // 2, (3 * len(esz)) // 4, len(esz) - 1})
            lines.append("    effective quota over time: " + ", ".join(
                f"{fmt_sz(esz[i])} at {fmt_time_s(times[i])}" for i in marks))
    return lines


def migration_lines(doc: dict) -> list[str]:
    """The node-to-node migration matrix (bytes from the row's node to the column's)."""
    mig = doc["migration"]
    names = [f"{n['node']} {n['name']}" for n in doc["nodes"]]
    m = mig["total"]
    span = (doc["times_s"][-1] - doc["start_s"]) if doc["times_s"] else 0.0
    head = f"node-to-node migration in {fmt_time_s(span)} (from row to column): " \
           f"{fmt_sz(mig['total_bytes'])} migrated, {fmt_sz(mig['pingpong_bytes'])} ping-pong"
    cells = [[fmt_sz(v) for v in row] for row in m]
    w0 = max(len("from " + n) for n in names)
    wc = max([len("to " + n) for n in names] + [len(c) for row in cells for c in row])
    out = [head, " " * w0 + "".join(f"  {('to ' + n):>{wc}}" for n in names)]
    for n, row in zip(names, cells, strict=True):
        out.append(f"{('from ' + n):<{w0}}" + "".join(f"  {c:>{wc}}" for c in row))
    return out


def format_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain fixed-width table (never wrapped: one line per row whatever the terminal)."""
    right = set(range(1, len(header))) if right is None else right
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    def line(cells):
        return "  ".join(f"{c:>{w}}" if i in right else f"{c:<{w}}"
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def scheme_table(doc: dict) -> str:
    """One row per scheme: the stats totals, the effective quota (last, min..max) and goals."""
    header = ["scheme", "action", "nr_tried", "sz_tried", "nr_applied", "sz_applied",
              "sz_ops_filter_passed", "qt_exceeds", "esz (last)", "esz min..max", "goals (current/target)"]
    rows = []
    for s in doc["schemes"]:
        tot, iv = s["total"], s["intervals"]
        esz = iv["esz"] or [tot["esz"]]
        goals = ", ".join(
            f"{g['metric']} {fmt_nr(c)}/{fmt_nr(t)}"
            for g, c, t in zip(s["quota"]["goals"], (iv["goals_current_value"] or [[]])[-1],
                               (iv["goals_target_value"] or [[]])[-1], strict=False)) or "-"
        rows.append([f"{s['kdamond_idx']}.{s['context_idx']}.{s['scheme_idx']}", s["action"],
                     fmt_nr(tot["nr_tried"]), fmt_sz(tot["sz_tried"]), fmt_nr(tot["nr_applied"]),
                     fmt_sz(tot["sz_applied"]), fmt_sz(tot["sz_ops_filter_passed"]),
                     fmt_nr(tot["qt_exceeds"]),
                     fmt_sz(tot["esz"]) if s["quota"]["set"] else "no quota",
                     f"{fmt_sz(min(esz))}..{fmt_sz(max(esz))}" if s["quota"]["set"] else "-",
                     goals])
    return format_table(header, rows, right={2, 3, 4, 5, 6, 7, 8, 9})


# -------------------------------------------------------------------- pictures
def plot_stats(doc: dict, out_png: str | os.PathLike[str], *, title: str | None = None) -> list[Path]:
    """Two PNGs: ``out_png`` with each scheme's effective quota and ``sz_applied`` per interval
    over time, and ``<stem>-migration.png`` beside it with the node-to-node matrix. Returns the
    paths written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from damon_gym.files import atomic_path

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    t = np.asarray(doc["times_s"])
    fig = Figure(figsize=(8, 5.5), dpi=90)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for s in doc["schemes"]:
        lab = f"{s['kdamond_idx']}.{s['context_idx']}.{s['scheme_idx']} {s['action']}"
        iv = s["intervals"]
        if s["quota"]["set"]:
            ax1.step(t, np.maximum(np.asarray(iv["esz"], float), 1.0), where="post", label=lab)
        ax2.step(t, np.asarray(iv["sz_applied"], float) / 2**20, where="post", label=lab)
    ax1.set_yscale("log")
    ax1.set_ylabel("effective quota esz (bytes)")
    ax1.set_title(title or f"DAMOS on {doc['scenario']} ({doc['topology']})")
    ax2.set_ylabel("sz_applied per interval (MiB)")
    ax2.set_xlabel("time (s)")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png")
    mig = out.with_name(out.stem + "-migration.png")
    m = np.asarray(doc["migration"]["total"], dtype=float)
    names = [f"{n['node']} {n['name']}" for n in doc["nodes"]]
    fig = Figure(figsize=(1.6 + 1.2 * len(names), 1.2 + 1.0 * len(names)), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(m / 2**20, cmap="Blues")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, fmt_sz(m[i, j]), ha="center", va="center", fontsize=8,
                    color="black" if m[i, j] <= m.max() / 2 else "white")
    ax.set_xticks(range(len(names)), [f"to {n}" for n in names], fontsize=8)
    ax.set_yticks(range(len(names)), [f"from {n}" for n in names], fontsize=8)
    fig.colorbar(im, ax=ax, label="MiB")
    ax.set_title("node-to-node migration", fontsize=9)
    fig.tight_layout()
    with atomic_path(mig) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png")
    return [out, mig]
