"""Our record files read by the real damo: report access, report wss and validate."""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from damo_tool import DAMO, needs_damo

from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    RegionArrays,
    read_record,
    write_record,
    wss_of_snapshot,
)

REAL = Path(__file__).parent / "fixtures" / "damo_records" / "masim_zigzag_vaddr.damon.data"
pytestmark = needs_damo

T0 = 1_700_000_000_000_000_000
BASE = 0x7F0000000000
MIB = 1 << 20


def damo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DAMO), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def synthetic(nr: int = 6) -> DamonRecord:
    """Three regions; the first is hot (20/20 samples) in even snapshots, idle in odd ones."""
    snaps = []
    for i in range(nr):
        regions = RegionArrays.from_list([
            (BASE, BASE + MIB, 20 if i % 2 == 0 else 0, 0 if i % 2 == 0 else 1),
            (BASE + MIB, BASE + 3 * MIB, 5, i),
            (BASE + 3 * MIB, BASE + 4 * MIB, 0, 10 + i),
        ])
        snaps.append(RecordSnapshot(T0 + i * 100_000_000, T0 + (i + 1) * 100_000_000, regions))
    return DamonRecord(0, 0, None, 0, RecordIntervals(5_000, 100_000, 1_000_000), snaps)


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    out = tmp_path / "damon.data"
    write_record(out, [synthetic()])
    return out


def test_report_access_shows_our_regions(record_file: Path) -> None:
    out = damo("report", "access", "--input", str(record_file), "--raw_number",
               cwd=record_file.parent)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "intervals: sample 5000 aggr 100000" in text
    assert text.count("snapshot time:") == 6
    assert "snapshot time: [0, 100000000] (100000000)" in text
    lines = [ln.split() for ln in text.splitlines() if ln[:1].isdigit()]
    # "<idx> addr <start> size <bytes> access <hz> age <us>" for 3 regions x 6 snapshots
    assert len(lines) == 18
    first = lines[:3]
    assert [int(ln[2]) for ln in first] == [BASE, BASE + MIB, BASE + 3 * MIB]
    assert [int(ln[4]) for ln in first] == [MIB, 2 * MIB, MIB]
    assert [float(ln[6]) for ln in first] == [200.0, 50.0, 0.0]      # hz = samples / 0.1 s
    assert [int(ln[8]) for ln in first] == [0, 0, 1_000_000]         # age 10 aggrs = 1 s
    assert [float(ln[6]) for ln in lines[3:6]] == [0.0, 50.0, 0.0]


def test_report_access_json_reads_back_equal(record_file: Path) -> None:
    """damo's own re-encoding (``--json --raw_number``) is read by our reader to the same
    values (it adds percent and usec next to our samples and aggr_intervals)."""
    out = damo("report", "access", "--input", str(record_file), "--json", "--raw_number",
               cwd=record_file.parent)
    assert out.returncode == 0, out.stderr
    reencoded = record_file.parent / "reencoded.data"
    reencoded.write_bytes(zlib.compress(out.stdout.encode()))
    (theirs,) = read_record(reencoded)
    ours = synthetic()
    assert theirs.intervals is not None and theirs.intervals.aggr_us == 100_000
    assert len(theirs.snapshots) == len(ours.snapshots)
    for a, b in zip(ours.snapshots, theirs.snapshots, strict=True):
        assert b.duration_ns == a.duration_ns
        for name in ("start", "end", "nr_accesses", "age"):
            assert np.array_equal(getattr(a.regions, name), getattr(b.regions, name))
    region = json.loads(out.stdout)[0]["snapshots"][0]["regions"][0]
    assert region["nr_accesses"] == {"samples": 20, "percent": 100}


def test_report_wss_matches_ours(record_file: Path) -> None:
    out = damo("report", "wss", "--input", str(record_file), "--raw_number", "--exclude_samples",
               "0", "--sortby", "time", "--all_wss", cwd=record_file.parent)
    assert out.returncode == 0, out.stderr
    theirs = [int(ln.split()[1]) for ln in out.stdout.splitlines() if ln[:1].isdigit()]
    assert theirs == [wss_of_snapshot(s) for s in synthetic().snapshots]
    assert theirs == [3 * MIB, 2 * MIB] * 3


def test_validate_passes_on_ours_and_the_real_record(record_file: Path) -> None:
    ok = damo("validate", "--input", str(record_file), cwd=record_file.parent)
    assert ok.returncode == 0 and ok.stdout == "", ok.stdout + ok.stderr
    real = damo("validate", "--input", str(REAL), cwd=record_file.parent)
    assert real.returncode == 0, real.stdout + real.stderr


def _edited(src: Path, dst: Path, edit) -> Path:
    doc = json.loads(zlib.decompress(src.read_bytes()))
    edit(doc[0]["snapshots"][2]["regions"][1])
    dst.write_bytes(zlib.compress(json.dumps(doc).encode()))
    return dst


def test_validate_fails_on_invalid_records(record_file: Path) -> None:
    tmp = record_file.parent
    # 30 positive samples in a 20-sample window: our writer does not bound nr_accesses
    rec = synthetic()
    rec.snapshots[2].regions.nr_accesses[1] = 30
    too_many = tmp / "too_many.data"
    write_record(too_many, [rec])
    out = damo("validate", "--input", str(too_many), cwd=tmp)
    assert out.returncode == 1 and "invalid: expect 0<=nr_accesses<=24 but 30" in out.stdout
    # an empty region: our writer refuses it, so edit the file directly
    empty = _edited(record_file, tmp / "empty.data", lambda r: r.update(end=r["start"]))
    out = damo("validate", "--input", str(empty), cwd=tmp)
    assert out.returncode == 1 and f"[{BASE + MIB}, {BASE + MIB})" in out.stdout
    # report access itself does not check: it lists the zero-size region
    shown = damo("report", "access", "--input", str(empty), "--raw_number", cwd=tmp)
    assert shown.returncode == 0 and f"addr {BASE + MIB}" in shown.stdout
    assert "size 0 " in shown.stdout


def test_plain_json_is_not_read_by_damo(tmp_path: Path) -> None:
    """[WF 2.1]: damo dispatches on `file -b`, which says "JSON text data" for
    JSON on current systems; damo then runs perf script and fails. Hence json_compressed."""
    out = tmp_path / "plain.data"
    write_record(out, [synthetic()], fmt="json")
    kind = subprocess.run(["file", "-b", str(out)], capture_output=True, text=True).stdout.strip()
    res = damo("report", "access", "--input", str(out), cwd=tmp_path)
    if kind == "JSON data":                     # an older `file`: damo reads it
        assert res.returncode == 0
    else:
        assert "snapshot time" not in res.stdout
        assert "failed" in res.stdout + res.stderr
    assert read_record(out)[0].snapshots[0].regions.nr_accesses[0] == 20
