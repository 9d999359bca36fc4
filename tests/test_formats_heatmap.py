"""damon_gym.formats.heatmap: time x address grids and the PNG plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    RegionArrays,
    read_record,
)
from damon_gym.heatmap import compute_heatmap, heatmap_grid, monitored_ranges, plot_heatmap

MIB = 1 << 20
BASE = 0x7F0000000000
FAR = BASE + (1 << 40)            # a second mapping 1 TiB away (like a stack)
AGGR_NS = 100_000_000
REAL = Path(__file__).parent / "fixtures" / "damo_records" / "masim_zigzag_vaddr.damon.data"


def moving_hot(nr_snapshots: int = 40, chunks: int = 8, per_chunk: int = 5) -> DamonRecord:
    """8 chunks of 8 MiB; chunk i // 5 is hot (20/20 samples) in snapshot i. Odd snapshots
    split the space into 4 MiB regions instead, as DAMON's regions change shape. A far 8 MiB
    mapping is half-hot (10/20) throughout."""
    snaps = []
    for i in range(nr_snapshots):
        hot = i // per_chunk
        step = 8 * MIB if i % 2 == 0 else 4 * MIB
        rows = [(BASE + a, BASE + a + step, 20 if a // (8 * MIB) == hot else 0, 0)
                for a in range(0, chunks * 8 * MIB, step)]
        rows.append((FAR, FAR + 8 * MIB, 10, 0))
        snaps.append(RecordSnapshot(i * AGGR_NS, (i + 1) * AGGR_NS, RegionArrays.from_list(rows)))
    return DamonRecord(0, 0, None, 0, RecordIntervals(5_000, 100_000, 1_000_000), snaps)


def test_monitored_ranges_cut_big_gaps() -> None:
    rec = moving_hot()
    assert monitored_ranges(rec) == [(BASE, BASE + 64 * MIB), (FAR, FAR + 8 * MIB)]
    assert monitored_ranges(rec, gap_bytes=1 << 41) == [(BASE, FAR + 8 * MIB)]


def test_hot_cells_follow_the_moving_region() -> None:
    grid = heatmap_grid([moving_hot()], time_bins=8, addr_bins=9)
    assert grid.shape == (8, 9)
    # compacted axis: 64 MiB + 8 MiB = 72 MiB in 9 bins of 8 MiB; bin 8 is the far mapping
    expected = np.zeros((8, 9))
    expected[np.arange(8), np.arange(8)] = 1.0
    expected[:, 8] = 0.5
    np.testing.assert_allclose(grid, expected, atol=1e-12)
    assert int(np.argmax(grid[3, :8])) == 3


def test_partial_cells_are_weighted_by_time_and_bytes() -> None:
    hm = compute_heatmap(moving_hot(), time_bins=4, addr_bins=18)
    # time bin 0 covers snapshots 0-9: chunk 0 hot for 5 of them, chunk 1 for the other 5
    np.testing.assert_allclose(hm.grid[0, 0:2], 0.5)           # 4 MiB bins of chunk 0
    np.testing.assert_allclose(hm.grid[0, 2:4], 0.5)           # chunk 1
    np.testing.assert_allclose(hm.grid[0, 4:16], 0.0)
    np.testing.assert_allclose(hm.covered, 1.0)
    assert hm.normalized and len(hm.ranges) == 2
    assert hm.address_of(0) == BASE and hm.address_of(64 * MIB) == FAR
    assert hm.address_of(68 * MIB) == FAR + 4 * MIB
    assert hm.time_edges_ns[0] == 0 and hm.time_edges_ns[-1] == 40 * AGGR_NS


def test_without_compaction_the_gap_takes_the_axis() -> None:
    grid = heatmap_grid(moving_hot(), time_bins=8, addr_bins=9, gap_bytes=1 << 41)
    # one range of ~1 TiB: the first bin averages the 64 MiB of chunks, nothing else is seen
    np.testing.assert_allclose(grid[:, 0], 1 / 8)
    assert np.count_nonzero(grid[:, 1:8]) == 0


def test_unnormalized_without_intervals() -> None:
    rec = moving_hot()
    rec.intervals = None
    hm = compute_heatmap(rec, time_bins=8, addr_bins=9)
    assert not hm.normalized and hm.grid.max() == 20.0
    np.testing.assert_allclose(compute_heatmap(rec, 8, 9, sample_us=5_000).grid.max(), 1.0)


def test_real_record_zigzag() -> None:
    hm = compute_heatmap(read_record(REAL), time_bins=56, addr_bins=64, sample_us=5_000)
    assert len(hm.ranges) == 3                   # heap, the mmap holding masim's regions, stack
    assert 0.0 <= hm.grid.min() and hm.grid.max() <= 1.1
    lo, hi = hm.range_offsets[1], hm.range_offsets[2]       # the 2 x 100 MB mapping
    a = np.searchsorted(hm.addr_edges, lo)
    b = np.searchsorted(hm.addr_edges, hi)
    mid = (a + b) // 2
    first, second = hm.grid[10:, a + 2:mid - 2].mean(1), hm.grid[10:, mid + 2:b - 2].mean(1)
    assert np.corrcoef(first, second)[0, 1] < -0.8          # the two halves take turns
    assert max(first.max(), second.max()) > 0.9


def test_plot_heatmap_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "heat.png"
    hm = plot_heatmap([moving_hot()], out, title="moving hot region", time_bins=40, addr_bins=36)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert hm.grid.shape == (40, 36)
    assert [p.name for p in tmp_path.iterdir()] == ["heat.png"]


def test_empty_record_refused() -> None:
    with pytest.raises(ValueError, match="no regions"):
        compute_heatmap(DamonRecord(0, 0, None, 0, None, []))
