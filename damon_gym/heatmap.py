"""Access heatmaps of damo records: time x address grids and damo-style PNG plots.

A cell holds the access frequency of its part of the (time, address) plane: nr_accesses divided
by the number of samples in the snapshot's aggregation window (0 = never seen accessed, 1 =
accessed in every sample), averaged over the cell's monitored area, weighted by time and bytes.
Addresses are compacted to the monitored ranges: unmonitored gaps wider than ``gap_bytes``
(such as the hole between a process's heap and its stack, or between NUMA nodes' physical
ranges) are cut out, as damo's heatmap draws each contiguous monitored range by itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from damon_gym.files import atomic_path
from damon_gym.formats.record import DamonRecord, RecordSnapshot

__all__ = ["Heatmap", "monitored_ranges", "compute_heatmap", "heatmap_grid", "plot_heatmap",
           "node_grid"]


@dataclass
class Heatmap:
    """``grid[t, a]``: access frequency of time bin t and (compacted) address bin a.

    ``time_edges_ns`` has time_bins + 1 absolute times; ``addr_edges`` has addr_bins + 1
    offsets on the compacted address axis; ``ranges`` are the monitored [start, end) address
    ranges laid end to end on that axis (``range_offsets[i]`` is where range i starts);
    ``covered[t, a]`` is the fraction of the cell's area that was monitored."""

    grid: np.ndarray
    covered: np.ndarray
    time_edges_ns: np.ndarray
    addr_edges: np.ndarray
    ranges: list[tuple[int, int]]
    range_offsets: np.ndarray
    normalized: bool

    def address_of(self, offset: float) -> int:
        """The real address at a compacted-axis offset."""
        i = int(np.searchsorted(self.range_offsets, offset, side="right") - 1)
        i = min(max(i, 0), len(self.ranges) - 1)
        return int(self.ranges[i][0] + (offset - self.range_offsets[i]))


def monitored_ranges(record: DamonRecord, gap_bytes: int | None = None) -> list[tuple[int, int]]:
    """The union of the record's regions over all snapshots, as sorted [start, end) ranges,
    with gaps of at most ``gap_bytes`` bridged (default: 1/16 of the monitored bytes)."""
    starts = np.concatenate([s.regions.start for s in record.snapshots] or [np.zeros(0, np.int64)])
    ends = np.concatenate([s.regions.end for s in record.snapshots] or [np.zeros(0, np.int64)])
    if starts.size == 0:
        return []
    order = np.argsort(starts, kind="stable")
    spans: list[list[int]] = []
    for s, e in zip(starts[order].tolist(), ends[order].tolist(), strict=True):
        if spans and s <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
    if gap_bytes is None:
        gap_bytes = sum(e - s for s, e in spans) // 16
    out: list[list[int]] = [spans[0]]
    for s, e in spans[1:]:
        if s - out[-1][1] <= gap_bytes:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _compact(addrs: np.ndarray, starts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    i = np.clip(np.searchsorted(starts, addrs, side="right") - 1, 0, len(starts) - 1)
    return (addrs - starts[i]).astype(np.float64) + offsets[i]


def _integral(points: np.ndarray, lo: np.ndarray, hi: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Integral of the piecewise-constant function (``value`` on [lo, hi)) from the axis
    start to each of ``points``: linear interpolation of its cumulative sum."""
    cum = np.concatenate([[0.0], np.cumsum(value * (hi - lo))])
    xp = np.empty(2 * len(lo))
    fp = np.empty(2 * len(lo))
    xp[0::2], xp[1::2] = lo, hi
    fp[0::2], fp[1::2] = cum[:-1], cum[1:]
    return np.interp(points, xp, fp)


def _sample_us(record: DamonRecord, snap: RecordSnapshot, sample_us: int | None) -> int | None:
    if sample_us is not None:
        return sample_us
    if snap.sample_interval_us:
        return snap.sample_interval_us
    return record.intervals.sample_us if record.intervals is not None else None


def compute_heatmap(records: Sequence[DamonRecord] | DamonRecord, time_bins: int = 100,
                    addr_bins: int = 100, target: int = 0, *, gap_bytes: int | None = None,
                    sample_us: int | None = None) -> Heatmap:
    """The heatmap of one record (``target`` indexes ``records``; a single record is taken as
    is). Frequencies need the sampling interval: ``sample_us``, else each snapshot's
    ``sample_interval_us``, else the record's intervals; without any, cells hold raw
    nr_accesses (``normalized`` False)."""
    if not isinstance(records, DamonRecord) and not 0 <= target < len(records):
        raise ValueError(f"target: {target} is not a target of the record; allowed: "
                         f"0..{len(records) - 1}" if records else "the record holds no target")
    record = records if isinstance(records, DamonRecord) else records[target]
    snaps = [s for s in record.snapshots if len(s.regions)]
    if not snaps:
        raise ValueError("the record has no regions to draw")
    ranges = monitored_ranges(record, gap_bytes)
    r_starts = np.array([s for s, _ in ranges], dtype=np.int64)
    r_sizes = np.array([e - s for s, e in ranges], dtype=np.float64)
    offsets = np.concatenate([[0.0], np.cumsum(r_sizes)[:-1]])
    total = float(r_sizes.sum())
    t0 = min(s.start_ns for s in snaps)
    t1 = max(s.end_ns for s in snaps)
    t_edges = np.linspace(t0, t1, time_bins + 1)
    a_edges = np.linspace(0.0, total, addr_bins + 1)
    heat = np.zeros((time_bins, addr_bins))
    cover = np.zeros((time_bins, addr_bins))
    normalized = True
    for s in snaps:
        # time weights: overlap of [start, end) with each time bin
        wt = np.clip(np.minimum(t_edges[1:], s.end_ns) - np.maximum(t_edges[:-1], s.start_ns),
                     0, None)
        if not wt.any():
            continue
        r = s.regions
        lo = _compact(r.start, r_starts, offsets)
        hi = lo + (r.end - r.start)
        su = _sample_us(record, s, sample_us)
        if su:
            nr_samples = max(s.duration_ns / 1000.0 / su, 1.0)
            freq = r.nr_accesses / nr_samples
        else:
            normalized = False
            freq = r.nr_accesses.astype(np.float64)
        area = np.diff(_integral(a_edges, lo, hi, np.ones(len(lo))))
        acc = np.diff(_integral(a_edges, lo, hi, freq))
        heat += np.outer(wt, acc)
        cover += np.outer(wt, area)
    cell = np.outer(np.diff(t_edges), np.diff(a_edges))
    grid = np.divide(heat, cover, out=np.zeros_like(heat), where=cover > 0)
    covered = np.divide(cover, cell, out=np.zeros_like(cover), where=cell > 0)
    return Heatmap(grid, covered, t_edges, a_edges, ranges, offsets, normalized)


def heatmap_grid(records: Sequence[DamonRecord] | DamonRecord, time_bins: int = 100,
                 addr_bins: int = 100, target: int = 0, *, gap_bytes: int | None = None,
                 sample_us: int | None = None) -> np.ndarray:
    """``compute_heatmap(...).grid``: a (time_bins, addr_bins) array of access frequency."""
    return compute_heatmap(records, time_bins, addr_bins, target, gap_bytes=gap_bytes,
                           sample_us=sample_us).grid


def node_grid(hm: Heatmap, node_map: Sequence[dict], record: DamonRecord) -> np.ndarray:
    """``nodes[t, a]``: the NUMA node the (time, address) cell of ``hm`` sat on, from the
    ``node_map`` of a ``damon-gym record --stats-out`` JSON (snapshots of ``[start, end,
    node]`` runs per target, in the record's clock and addresses; each time bin takes the
    latest snapshot at or before its middle, else the first); -1 where nothing is known, -2
    where no node holds 2/3 of the region's pages."""
    key = (record.kdamond_idx, record.context_idx, record.target_id)
    snaps = []
    for snap in node_map:
        for t in snap["targets"]:
            if (t["kdamond_idx"], t["context_idx"], t["target_idx"]) == key:
                snaps.append((int(snap["time_ns"]), t["runs"]))
    grid = np.full((len(hm.time_edges_ns) - 1, len(hm.addr_edges) - 1), -1, dtype=np.int64)
    if not snaps:
        return grid
    snaps.sort(key=lambda x: x[0])
    times = np.array([t for t, _ in snaps])
    mids = (hm.addr_edges[:-1] + hm.addr_edges[1:]) / 2
    addrs = np.array([hm.address_of(m) for m in mids], dtype=np.int64)
    t_mid = (hm.time_edges_ns[:-1] + hm.time_edges_ns[1:]) / 2
    for ti, tm in enumerate(t_mid):
        k = max(int(np.searchsorted(times, tm, side="right")) - 1, 0)
        runs = snaps[k][1]
        if not runs:
            continue
        rs = np.array(runs, dtype=np.int64)
        i = np.searchsorted(rs[:, 0], addrs, side="right") - 1
        ok = (i >= 0) & (addrs < rs[np.clip(i, 0, None), 1])
        grid[ti] = np.where(ok, rs[np.clip(i, 0, None), 2], -1)
    return grid


def plot_heatmap(records: Sequence[DamonRecord] | DamonRecord, out_png: str | os.PathLike[str],
                 title: str | None = None, *, time_bins: int = 200, addr_bins: int = 200,
                 target: int = 0, gap_bytes: int | None = None, sample_us: int | None = None,
                 dpi: int = 100, nodes: dict | None = None) -> Heatmap:
    """Draw a damo-style heatmap (time on x, address on y, heat as colour) to ``out_png``
    with matplotlib's Agg backend, atomically. Returns the heatmap drawn. With ``nodes`` (a
    ``damon-gym record --stats-out`` document) a second panel beside it colours each cell by
    the node its pages sat on (:func:`node_grid`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hm = compute_heatmap(records, time_bins, addr_bins, target, gap_bytes=gap_bytes,
                         sample_us=sample_us)
    fig = Figure(figsize=(13 if nodes else 8, 5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2 if nodes else 1, 1)
    secs = (hm.time_edges_ns - hm.time_edges_ns[0]) / 1e9
    mib = hm.addr_edges / float(1 << 20)
    data = np.ma.masked_where(hm.covered <= 0, hm.grid).T
    mesh = ax.pcolormesh(secs, mib, data, cmap="gnuplot", shading="flat",
                         vmin=0.0, vmax=1.0 if hm.normalized else None)
    ax.set_facecolor("white")          # unmonitored cells
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label("access frequency (nr_accesses / samples)" if hm.normalized else "nr_accesses")
    for off in hm.range_offsets[1:]:   # where a cut-out gap was
        ax.axhline(off / float(1 << 20), color="tab:red", linewidth=0.8, linestyle="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("address offset in monitored ranges (MiB)"
                  if len(hm.ranges) > 1 else f"address - {hm.ranges[0][0]:#x} (MiB)")
    ax.set_title(title or "access heatmap")
    if nodes:
        from matplotlib.colors import BoundaryNorm, ListedColormap

        record = records if isinstance(records, DamonRecord) else records[target]
        grid = node_grid(hm, nodes.get("node_map") or [], record)
        names = [n.get("name", str(n.get("node"))) for n in nodes.get("nodes", [])]
        nn = max(len(names), int(grid.max()) + 1, 1)
        grid = np.where(grid == -2, nn, grid)  # "mixed": no node holds 2/3 of the pages
        palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
        cmap = ListedColormap([palette[i % len(palette)] for i in range(nn)] + ["lightgrey"])
        ax2 = fig.add_subplot(1, 2, 2, sharey=ax)
        m = ax2.pcolormesh(secs, mib, np.ma.masked_where(grid < 0, grid).T, cmap=cmap,
                           norm=BoundaryNorm(np.arange(nn + 2) - 0.5, nn + 1), shading="flat")
        ax2.set_facecolor("white")
        cb = fig.colorbar(m, ax=ax2, ticks=range(nn + 1))
        cb.ax.set_yticklabels([f"{i} {names[i]}" if i < len(names) else str(i)
                               for i in range(nn)] + ["mixed"])
        cb.set_label("node holding >= 2/3 of the region's pages")
        ax2.set_xlabel("time (s)")
        ax2.set_title("where the pages sit")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png")
    return hm
