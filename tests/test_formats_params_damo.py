"""Round trips of our DAMON parameter documents through the real damo (``damo args damon``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from damo_tool import DAMO, needs_damo

from damon_gym.formats.params import DamonParams, load_damon_params, load_schemes, save_damon_params

FIXTURES = Path(__file__).parent / "fixtures" / "damo_params"
pytestmark = needs_damo


def damo_args_damon(path: Path, *extra: str) -> str:
    """``damo args damon FILE --format json``: damo reads the file (the positional
    <deducible string> takes full DAMON parameters) and prints its own document."""
    out = subprocess.run([str(DAMO), "args", "damon", str(path), "--format", "json", *extra],
                         capture_output=True, text=True, timeout=120, cwd=path.parent)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _summary(p: DamonParams) -> list:
    rows = []
    for k in p.kdamonds:
        for c in k.contexts:
            rows.append((c.ops, [(t.pid, t.regions) for t in c.targets], c.attrs(), c.pause))
            for s in c.schemes:
                rows.append((s.action, s.dests, s.target_nid, s.access_pattern, s.apply_interval_us,
                             s.quotas, s.watermarks, s.filters))
    return rows


@pytest.mark.parametrize("name", ["weighted_interleave", "mem_tier"])
def test_damo_reads_back_our_dump(name: str, tmp_path: Path) -> None:
    ours = load_damon_params(FIXTURES / f"{name}.json")
    out = tmp_path / f"{name}.json"
    save_damon_params(ours, out)
    again = load_damon_params(damo_args_damon(out))
    assert again == ours
    assert _summary(again) == _summary(ours)
    c = again.kdamonds[0].contexts[0]
    s = c.schemes[0]
    if name == "weighted_interleave":
        assert s.dests == [(0, 1), (1, 1)] and s.quotas.sz_bytes == 200 << 20
        assert c.intervals.intervals_goal.access_bp == 400
    else:
        assert [k.contexts[0].schemes[0].quotas.goals[0].target_value for k in again.kdamonds] == [50, 9970]
        assert [k.contexts[0].schemes[0].filters[0].allow for k in again.kdamonds] == [False, True]
        assert c.nr_regions.min == 10 and c.nr_regions.max == 1000


@pytest.mark.parametrize("name", ["weighted_interleave", "mem_tier"])
def test_damo_output_of_our_dump_matches_its_own_file(name: str, tmp_path: Path) -> None:
    """damo's document for our dump is byte-identical to the fixture, except that damo turns
    a null memcg_path of a non-memcg filter into "" when it reads a file."""
    out = tmp_path / "p.json"
    save_damon_params(load_damon_params(FIXTURES / f"{name}.json"), out)
    printed = json.loads(damo_args_damon(out))
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    for k in fixture["kdamonds"]:
        for f in k["contexts"][0]["schemes"][0]["filters"]:
            f["memcg_path"] = ""
    assert printed == fixture


def test_damo_reads_back_unusual_values(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "weighted_interleave.json").read_text())
    c = doc["kdamonds"][0]["contexts"][0]
    c["intervals"].update(sample_us="2 ms", aggr_us="50 ms", ops_update_us="2 s",
                          intervals_goal={"access_bp": 1, "aggrs": 0, "min_sample_us": 0,
                                          "max_sample_us": 0})
    c["nr_regions"] = {"min": 5, "max": 2500}
    c["pause"] = True
    s = c["schemes"][0]
    s["action"] = "migrate_cold"
    s["dests"] = []
    s["target_nid"] = 1
    s["access_pattern"] = {"sz_bytes": {"min": 4097, "max": "1 GiB"},
                           "nr_accesses": {"min": "1 samples", "max": "3 samples"},
                           "age": {"min": "7 aggr_intervals", "max": "max aggr_intervals"}}
    s["quotas"].update(time_ms="20 ms", sz_bytes="1,500 KiB", reset_interval_ms="1,500 ms",
                       fail_charge_num=1, fail_charge_denom=1024, goal_tuner="temporal",
                       weights={"sz_permil": 7, "nr_accesses_permil": 300, "age_permil": 999},
                       goals=[{"metric": "some_mem_psi_us", "target_value": "1 ms"},
                              {"metric": "node_memcg_used_bp", "nid": 1, "memcg_path": "/w",
                               "target_value": "12.34 %"}])
    s["watermarks"] = {"metric": "free_mem_rate", "interval_us": "5 s", "high_permil": 600,
                       "mid_permil": 500, "low_permil": "30 %"}
    s["filters"] = [
        {"filter_type": "addr", "matching": True, "allow": False,
         "address_range": {"start": 4096, "end": 1 << 30}},
        {"filter_type": "target", "matching": False, "allow": True, "damon_target_idx": 0},
        {"filter_type": "hugepage_size", "matching": True, "allow": False,
         "hugepage_size": ["2 MiB", "1 GiB"]},
        {"filter_type": "memcg", "matching": True, "allow": True, "memcg_path": "/w"},
        {"filter_type": "anon", "matching": True, "allow": False},
    ]
    ours = load_damon_params(doc)
    out = tmp_path / "p.json"
    save_damon_params(ours, out)
    # damo's --raw output is exact: damo read every value of our dump as we meant it
    exact = load_damon_params(damo_args_damon(out, "--raw"), raw=True)
    assert _summary(exact) == _summary(ours)
    assert exact == ours
    # its human output rounds sizes to 3 decimals ("1.465 MiB" for 1,500 KiB)
    human = load_damon_params(damo_args_damon(out))
    q = human.kdamonds[0].contexts[0].schemes[0].quotas
    assert q.sz_bytes != 1_536_000 and abs(q.sz_bytes - 1_536_000) < 1_536_000 * 1e-3
    q.sz_bytes = 1_536_000
    assert human == ours


def test_raw_output_reads_back_with_raw_flag(tmp_path: Path) -> None:
    """``--raw`` writes quota times, age bounds and the watermark interval in ns [WF 2.9]."""
    ours = load_damon_params(FIXTURES / "mem_tier.json")
    out = tmp_path / "p.json"
    save_damon_params(ours, out)
    raw = damo_args_damon(out, "--raw")
    assert '"reset_interval_ms": "1000000000"' in raw
    assert load_damon_params(raw, raw=True) == ours


def test_schemes_list_through_damo(tmp_path: Path) -> None:
    """The --schemes list form: ours loads, and damo accepts it inside a document."""
    schemes = load_schemes([{"action": "pageout", "access_pattern": {
        "sz_bytes": {"min": "4 KiB", "max": "max"}, "nr_accesses": {"min": "0 %", "max": "0 %"},
        "age": {"min": "5 s", "max": "max"}}}])
    p = DamonParams.model_validate({"kdamonds": [{"contexts": [
        {"ops": "vaddr", "targets": [{"pid": 42}], "schemes": []}]}]})
    p.kdamonds[0].contexts[0].schemes = schemes
    out = tmp_path / "p.json"
    save_damon_params(p, out)
    again = load_damon_params(damo_args_damon(out))
    assert again.kdamonds[0].contexts[0].schemes == schemes
