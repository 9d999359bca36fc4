"""damon_gym.formats.record: damo's access-record files, without running damo."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from damon_gym.formats._fields import DamoFormatError
from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    RegionArrays,
    merge_records,
    read_record,
    write_record,
    wss_of_snapshot,
)
from damon_gym.formats.record import RecordIntervalsGoal as IntervalsGoal

REAL = Path(__file__).parent / "fixtures" / "damo_records" / "masim_zigzag_vaddr.damon.data"
T0 = 1_700_000_000_000_000_000
AGGR_NS = 100_000_000


def synthetic(nr_snapshots: int = 4, target_id: int = 0) -> DamonRecord:
    snaps = []
    for i in range(nr_snapshots):
        regions = RegionArrays.from_list([
            (0x7F0000000000, 0x7F0000100000, 20 if i % 2 == 0 else 0, i),
            (0x7F0000100000, 0x7F0000300000, 5, 3),
            (0x7F0000300000, 0x7F0000400000, 0, 10 + i),
        ])
        snaps.append(RecordSnapshot(T0 + i * AGGR_NS, T0 + (i + 1) * AGGR_NS, regions))
    return DamonRecord(0, 0, None, target_id, RecordIntervals(5_000, 100_000, 1_000_000), snaps)


def _raw(path: Path) -> list:
    return json.loads(zlib.decompress(path.read_bytes()))


def _write_raw(path: Path, doc: object, compress: bool = True) -> None:
    data = json.dumps(doc).encode()
    path.write_bytes(zlib.compress(data) if compress else data)


# ---------------------------------------------------------------- the real record

def test_real_record_reads() -> None:
    (rec,) = read_record(REAL)
    assert rec.target_id == 18446623438842320000     # a debugfs-era kernel pointer
    assert rec.intervals is None                     # converted from the old binary format
    assert (rec.kdamond_idx, rec.context_idx, rec.scheme_idx) == (None, None, None)
    assert len(rec.snapshots) == 543
    # intervals were 5 ms / 100 ms: snapshots ~100 ms apart (104 ms measured) ...
    assert 95_000 <= rec.aggr_us_observed() <= 110_000
    assert all(90e6 < s.duration_ns < 120e6 for s in rec.snapshots)
    # ... and at most aggr/sample = 20 positive samples, give or take the timer slack
    nr = np.concatenate([s.regions.nr_accesses for s in rec.snapshots])
    assert nr.min() == 0 and 18 <= nr.max() <= 22
    for s in rec.snapshots:
        r = s.regions
        assert np.all(r.start < r.end)
        assert np.all(r.start[1:] >= r.end[:-1])                  # sorted, no overlap
        assert np.all(r.age == -1)                                # no age in this file
        assert s.total_bytes == int(r.sizes.sum())
    starts = [s.start_ns for s in rec.snapshots]
    assert starts == sorted(starts)
    first = rec.snapshots[0]
    assert (first.start_ns, first.end_ns) == (539_809_434_100, 539_914_032_967)
    assert first.regions.start[0] == 94_827_419_009_024
    # masim zigzag: one 100,000,000-byte region hot at a time (95.37 MiB); damo report wss
    # skips the first 20 snapshots
    wss = np.array([wss_of_snapshot(s) for s in rec.snapshots[20:]])
    assert abs(np.median(wss) - 100_000_000) < 0.01 * 100_000_000


# ---------------------------------------------------------------- write / read

def test_write_follows_the_minimal_schema(tmp_path: Path) -> None:
    out = tmp_path / "damon.data"
    write_record(out, [synthetic(2)])
    assert out.read_bytes()[:2] == b"\x78\x9c"           # a raw zlib stream, not gzip
    (kv,) = _raw(out)
    assert list(kv)[:5] == ["kdamond_idx", "context_idx", "intervals", "scheme_idx", "target_id"]
    assert kv["intervals"] == {"sample_us": 5000, "aggr_us": 100000, "ops_update_us": 1000000}
    s0 = kv["snapshots"][0]
    assert (s0["start_time"], s0["end_time"]) == (T0, T0 + AGGR_NS)
    assert s0["regions"][0] == {"start": 0x7F0000000000, "end": 0x7F0000100000,
                                "nr_accesses": {"samples": 20, "percent": None},
                                "age": {"usec": None, "aggr_intervals": 0}}
    assert s0["total_bytes"] == 4 << 20


def test_round_trip(tmp_path: Path) -> None:
    rec = synthetic(5)
    rec.intervals = RecordIntervals(5_000, 100_000, 1_000_000, IntervalsGoal(400, 3, 5_000, 10_000_000))
    rec.snapshots[1].sample_interval_us = 4_000
    rec.snapshots[2].damos_stats = {"nr_tried": 3, "sz_tried": 4096}
    for fmt in ("json_compressed", "json"):
        out = tmp_path / f"r.{fmt}"
        write_record(out, [rec], fmt=fmt)
        (back,) = read_record(out)
        assert back.intervals == rec.intervals and back.key == rec.key
        assert len(back.snapshots) == 5
        for a, b in zip(rec.snapshots, back.snapshots, strict=True):
            assert (a.start_ns, a.end_ns) == (b.start_ns, b.end_ns)
            for name in ("start", "end", "nr_accesses", "age"):
                assert np.array_equal(getattr(a.regions, name), getattr(b.regions, name))
        assert back.snapshots[1].sample_interval_us == 4_000
        assert back.snapshots[2].damos_stats == {"nr_tried": 3, "sz_tried": 4096}


def test_reader_tolerance(tmp_path: Path) -> None:
    """[WF 2.4]: comma strings, human units, null percent/usec, missing optional keys, the
    fake trailing snapshot, raw-ns sample_interval_us."""
    doc = [{
        "target_id": "0",
        "intervals": {"sample_us": "5 ms", "aggr_us": "100000", "ops_update_us": "1 s",
                      "intervals_goal": {"access_bp": "400.000000", "aggrs": "3",
                                         "min_sample_us": "5000", "max_sample_us": "10 s"}},
        "snapshots": [
            {"start_time": "1,000,000,000", "end_time": "1.1 s", "sample_interval_us": "5000000",
             "regions": [
                 {"start": "4,096", "end": "8 KiB", "nr_accesses": {"samples": None, "percent": "50 %"},
                  "age": {"usec": "300 ms", "aggr_intervals": None}},
                 {"start": 8192, "end": 16384, "nr_accesses": {"samples": "7", "percent": None},
                  "age": {"usec": None, "aggr_intervals": "1,000"}, "sz_filter_passed": "4.000 KiB",
                  "probe_hits": [1, 2]}]},
            {"start_time": None, "end_time": 1_200_000_000,
             "regions": [{"start": 4096, "end": 16384, "nr_accesses": {"samples": 1},
                          "age": {"usec": None, "aggr_intervals": 0}}]},
            {"start_time": 1_200_000_000, "end_time": 1_300_000_000,
             "regions": [{"start": 0, "end": 0, "nr_accesses": {"samples": -1, "percent": None},
                          "age": {"usec": None, "aggr_intervals": -1}}]},
        ]}]
    out = tmp_path / "t.data"
    _write_raw(out, doc)
    (rec,) = read_record(out)
    assert rec.intervals == RecordIntervals(5000, 100000, 1000000, IntervalsGoal(400, 3, 5000, 10_000_000))
    assert (rec.kdamond_idx, rec.scheme_idx, rec.target_id, rec.scheme_filters) == (None, None, 0, [])
    assert len(rec.snapshots) == 2                                  # fake snapshot dropped
    s0, s1 = rec.snapshots
    assert (s0.start_ns, s0.end_ns, s1.start_ns) == (1_000_000_000, 1_100_000_000, 1_100_000_000)
    assert s0.sample_interval_us == 5000                            # bare number = ns (damo raw)
    assert s0.regions.start.tolist() == [4096, 8192] and s0.regions.end.tolist() == [8192, 16384]
    assert s0.regions.nr_accesses.tolist() == [10, 7]               # 50 % of 20 samples
    assert s0.regions.age.tolist() == [3, 1000]                     # 300 ms / 100 ms
    _write_raw(out, doc, compress=False)                            # plain JSON too
    assert read_record(out)[0].snapshots[0].regions.nr_accesses.tolist() == [10, 7]


def test_records_with_equal_keys_merge(tmp_path: Path) -> None:
    a, b, other = synthetic(2), synthetic(4), synthetic(1, target_id=1)
    b.snapshots = b.snapshots[2:]
    out = tmp_path / "m.data"
    write_record(out, [b, other, a])
    recs = read_record(out)
    assert [r.target_id for r in recs] == [0, 1]
    assert [s.start_ns for s in recs[0].snapshots] == [T0 + i * AGGR_NS for i in range(4)]
    assert len(read_record(out, merge=False)) == 3
    assert len(merge_records([a, b, other])) == 2


def test_wss() -> None:
    s = synthetic(1).snapshots[0]
    assert wss_of_snapshot(s) == (1 << 20) + (2 << 20)
    assert wss_of_snapshot(s, acc_thres=6) == 1 << 20
    assert wss_of_snapshot(s, acc_thres=0) == 4 << 20
    assert wss_of_snapshot(s, acc_thres=1, sz_thres=(2 << 20) + 1) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda r: setattr(r.snapshots[1].regions, "end", np.array([0x7F0000000000, 0x7F0000300000,
                                                                  0x7F0000400000])),
     "records[0].snapshots[1].regions[0]: start 139,637,976,727,552 is not below end"),
    (lambda r: setattr(r.snapshots[0].regions, "start", np.array([0x7F0000000000, 0x7F00000F0000,
                                                                    0x7F0000300000])),
     "records[0].snapshots[0].regions[1]: starts at"),
    (lambda r: setattr(r.snapshots[2], "end_ns", 0), "records[0].snapshots[2]: end_ns 0 is before"),
])
def test_writer_refuses_bad_regions_and_leaves_nothing(tmp_path: Path, edit, message: str) -> None:
    rec = synthetic(3)
    edit(rec)
    out = tmp_path / "bad.data"
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        write_record(out, [rec])
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_on_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "damon.data"
    write_record(out, [synthetic(2)])
    before = out.read_bytes()
    import damon_gym.files as f

    real_open = open

    def interrupted_open(path, mode="r", *a, **k):       # Ctrl-C in the middle of the write
        fh = real_open(path, mode, *a, **k)
        if "w" in mode and str(path) != str(out):
            fh.write(b"partial")
            fh.close()
            raise KeyboardInterrupt
        return fh

    monkeypatch.setattr(f, "open", interrupted_open, raising=False)
    with pytest.raises(KeyboardInterrupt):
        write_record(out, [synthetic(4)])
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["damon.data"]


def test_read_errors_name_the_path(tmp_path: Path) -> None:
    out = tmp_path / "e.data"
    _write_raw(out, [{"target_id": 0, "intervals": None, "snapshots": [
        {"start_time": 0, "end_time": 100, "regions": [
            {"start": 0, "end": 4096, "nr_accesses": {"samples": "many"},
             "age": {"usec": None, "aggr_intervals": 0}}]}]}])
    with pytest.raises(DamoFormatError, match=r"records\[0\]\.snapshots\[0\]\.regions\[0\]\."
                                              r"nr_accesses\.samples: got 'many'"):
        read_record(out)
    _write_raw(out, [{"target_id": 0, "intervals": None, "snapshots": [
        {"start_time": 0, "end_time": 100, "regions": [
            {"start": 0, "end": 4096, "nr_accesses": {"samples": None, "percent": 50},
             "age": None}]}]}])
    with pytest.raises(DamoFormatError, match="needs the record's intervals"):
        read_record(out)
    out.write_bytes(b"\x00\x01garbage")
    with pytest.raises(DamoFormatError, match="neither zlib-compressed JSON nor JSON"):
        read_record(out)
    with pytest.raises(ValueError, match="fmt"):
        write_record(out, [], fmt="perf_script")
