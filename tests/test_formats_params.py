"""damon_gym.formats.params: damo's DAMON parameter documents, without running damo."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from damon_gym.damon.attrs import Attrs, IntervalsGoal
from damon_gym.formats.params import (
    DamoFormatError,
    DamonParams,
    dump_damon_params,
    dump_schemes,
    load_damon_params,
    load_schemes,
    save_damon_params,
)
from damon_gym.units import U64_MAX

FIXTURES = Path(__file__).parent / "fixtures" / "damo_params"
WI = FIXTURES / "weighted_interleave.json"
MT = FIXTURES / "mem_tier.json"
MIB = 1 << 20


def _doc(path: Path = WI) -> dict:
    return json.loads(path.read_text())


def _scheme_doc(doc: dict) -> dict:
    return doc["kdamonds"][0]["contexts"][0]["schemes"][0]


def _problems(doc: object) -> list[str]:
    with pytest.raises(DamoFormatError) as ei:
        load_damon_params(doc)
    return ei.value.problems


# ---------------------------------------------------------------- the real files

def test_weighted_interleave_fields() -> None:
    p = load_damon_params(WI)
    assert len(p.kdamonds) == 1 and len(p.kdamonds[0].contexts) == 1
    c = p.kdamonds[0].contexts[0]
    assert c.ops == "vaddr" and c.addr_unit == 1 and c.pause is False
    assert [(t.pid, t.obsolete, t.regions) for t in c.targets] == [(1234, False, [])]
    i = c.intervals
    assert (i.sample_us, i.aggr_us, i.ops_update_us) == (5_000, 100_000, 1_000_000)
    g = i.intervals_goal
    assert (g.access_bp, g.aggrs, g.min_sample_us, g.max_sample_us) == (400, 3, 5_000, 10_000_000)
    assert (c.nr_regions.min, c.nr_regions.max) == (10, 1000)
    (s,) = c.schemes
    assert s.action == "migrate_hot"
    assert s.dests == [(0, 1), (1, 1)] and s.target_nid is None
    ap = s.access_pattern
    assert (ap.sz_bytes.min, ap.sz_bytes.max) == (0, U64_MAX)
    assert ap.nr_accesses.min == ("percent", 5)
    assert ap.nr_accesses.max == ("percent", U64_MAX)
    assert ap.age.min == ("us", 0) and ap.age.max == ("us", U64_MAX)
    assert s.apply_interval_us == 1_000_000
    q = s.quotas
    assert (q.time_ms, q.sz_bytes, q.reset_interval_ms) == (0, 200 * MIB, 1000)
    assert (q.fail_charge_num, q.fail_charge_denom, q.goals, q.goal_tuner) == (0, 0, [], "consist")
    assert (q.weights.sz_permil, q.weights.nr_accesses_permil, q.weights.age_permil) == (1, 1, 1)
    w = s.watermarks
    assert (w.metric, w.interval_us, w.high_permil, w.mid_permil, w.low_permil) == ("none", 0, 0, 0, 0)
    assert s.filters == []


def test_mem_tier_fields() -> None:
    p = load_damon_params(MT)
    assert len(p.kdamonds) == 2
    demote, promote = (k.contexts[0] for k in p.kdamonds)
    assert demote.ops == promote.ops == "paddr"
    assert demote.targets[0].pid is None
    assert demote.targets[0].regions == [(4096, 654_336), (1_048_576, 3_221_225_472),
                                         (4_294_967_296, 26_843_545_600)]
    assert promote.targets[0].regions == []      # node 1 did not exist where it was made
    cold, hot = demote.schemes[0], promote.schemes[0]
    assert (cold.action, cold.target_nid, cold.dests) == ("migrate_cold", 1, [])
    assert cold.access_pattern.nr_accesses.min == cold.access_pattern.nr_accesses.max == ("percent", 0)
    (g,) = cold.quotas.goals
    assert (g.metric, g.nid, g.target_value, g.complement, g.memcg_path) == (
        "node_mem_free_bp", 0, 50, False, None)
    (f,) = cold.filters
    assert (f.filter_type, f.matching, f.allow) == ("young", True, False)
    assert (hot.action, hot.target_nid) == ("migrate_hot", 0)
    (g,) = hot.quotas.goals
    assert (g.metric, g.nid, g.target_value) == ("node_mem_used_bp", 0, 9970)
    (f,) = hot.filters
    assert (f.filter_type, f.matching, f.allow) == ("young", True, True)
    for s in (cold, hot):
        assert s.quotas.sz_bytes == 200 * MIB and s.quotas.reset_interval_ms == 1000
        assert s.apply_interval_us == 1_000_000


def test_attrs_conversion() -> None:
    c = load_damon_params(WI).kdamonds[0].contexts[0]
    a = c.attrs()
    assert a == Attrs(5_000, 100_000, 1_000_000, 10, 1000, IntervalsGoal(400, 3, 5_000, 10_000_000))
    a.validate()
    ap = c.schemes[0].access_pattern
    assert ap.nr_accesses_samples(a) == (1, U64_MAX)        # 5 % of 20 samples
    assert ap.age_aggr_intervals(a) == (0, U64_MAX)


# ---------------------------------------------------------------- units and forms

def test_every_value_accepts_damo_forms() -> None:
    doc = _doc()
    s = _scheme_doc(doc)
    doc["kdamonds"][0]["contexts"][0]["intervals"].update(
        sample_us=5000, aggr_us="0.1 s", ops_update_us="1,000,000")
    doc["kdamonds"][0]["contexts"][0]["nr_regions"] = {"min": 10, "max": "max"}
    s["quotas"].update(time_ms=20, sz_bytes="200MB", reset_interval_ms="1 m 21.097 s",
                       weights={"sz_permil": 3, "nr_accesses_permil": "30 %",
                                "age_permil": "70.0 %"})
    s["access_pattern"] = {"sz_bytes": {"min": "4 KiB", "max": "2,097,152"},
                           "nr_accesses": {"min": "2 samples", "max": "max samples"},
                           "age": {"min": "5 aggr_intervals", "max": "1,000 aggr_intervals"}}
    s["watermarks"] = {"metric": "free_mem_rate", "interval_us": "5 s",
                       "high_permil": "100 %", "mid_permil": 999, "low_permil": "0.0 %"}
    c = load_damon_params(doc).kdamonds[0].contexts[0]
    assert (c.intervals.aggr_us, c.intervals.ops_update_us, c.nr_regions.max) == (
        100_000, 1_000_000, U64_MAX)
    q = c.schemes[0].quotas
    assert (q.time_ms, q.sz_bytes, q.reset_interval_ms) == (20, 200 * MIB, 81_097)
    assert (q.weights.sz_permil, q.weights.nr_accesses_permil, q.weights.age_permil) == (3, 300, 700)
    ap = c.schemes[0].access_pattern
    assert (ap.sz_bytes.min, ap.sz_bytes.max) == (4096, 2 * MIB)
    assert ap.nr_accesses.min == ("samples", 2) and ap.nr_accesses.max == ("samples", U64_MAX)
    assert ap.age.min == ("aggr_intervals", 5) and ap.age.max == ("aggr_intervals", 1000)
    assert ap.age_aggr_intervals(c.attrs()) == (5, 1000)
    w = c.schemes[0].watermarks
    assert (w.metric, w.interval_us, w.high_permil, w.mid_permil, w.low_permil) == (
        "free_mem_rate", 5_000_000, 1000, 999, 0)


def test_goal_target_units_follow_metric() -> None:
    doc = _doc()
    _scheme_doc(doc)["quotas"]["goals"] = [
        {"metric": "node_mem_used_bp", "nid": 1, "target_value": "99.7 %", "current_value": 0},
        {"metric": "some_mem_psi_us", "target_value": "1 ms"},
        {"metric": "user_input", "target_value": "1,234", "current_value": "10"},
        {"metric": "node_memcg_free_bp", "nid": "0", "memcg_path": "/a", "target_value": 5000},
    ]
    goals = load_damon_params(doc).kdamonds[0].contexts[0].schemes[0].quotas.goals
    assert [(g.metric, g.target_value) for g in goals] == [
        ("node_mem_used_bp", 9970), ("some_mem_psi_us", 1000), ("user_input", 1234),
        ("node_memcg_free_bp", 5000)]
    assert goals[0].nid == 1 and goals[2].current_value == 10 and goals[3].memcg_path == "/a"


def test_defaults_for_missing_keys() -> None:
    p = load_damon_params({"kdamonds": [{"contexts": [
        {"ops": "paddr", "targets": [{"pid": None, "regions": [[0, 4096 * 16]]}],
         "schemes": [{"action": "pageout"}]}]}]})
    c = p.kdamonds[0].contexts[0]
    assert c.attrs() == Attrs(5_000, 100_000, 1_000_000, 10, 1000)
    s = c.schemes[0]
    assert s.access_pattern.nr_accesses.min == ("percent", 0)
    assert s.quotas.reset_interval_ms == U64_MAX and s.quotas.sz_bytes == 0
    assert s.watermarks.metric == "none" and s.filters == [] and s.dests == []


def test_pause_is_kept_and_old_filter_pass_name() -> None:
    doc = _doc(MT)
    doc["kdamonds"][0]["contexts"][0]["pause"] = True
    f = _scheme_doc(doc)["filters"][0]
    del f["allow"]
    f["filter_pass"] = True
    c = load_damon_params(doc).kdamonds[0].contexts[0]
    assert c.pause is True and c.schemes[0].filters[0].allow is True


def test_filter_arguments() -> None:
    doc = _doc()
    _scheme_doc(doc)["filters"] = [
        {"filter_type": "addr", "matching": True, "allow": False,
         "address_range": {"start": "4,096", "end": "1 MiB"}},
        {"filter_type": "target", "matching": False, "allow": True, "damon_target_idx": "0"},
        {"filter_type": "hugepage_size", "matching": True, "allow": True,
         "hugepage_size": ["2 MiB", "2 MiB"]},
        {"filter_type": "memcg", "matching": True, "allow": False, "memcg_path": "/workload"},
    ]
    fs = load_damon_params(doc).kdamonds[0].contexts[0].schemes[0].filters
    assert fs[0].address_range == (4096, MIB)
    assert fs[1].damon_target_idx == 0 and fs[1].matching is False
    assert fs[2].hugepage_size == (2 * MIB, 2 * MIB)
    assert fs[3].memcg_path == "/workload"


def test_yaml_file_and_json_string(tmp_path: Path) -> None:
    y = tmp_path / "p.yaml"
    y.write_text(yaml.safe_dump(_doc(MT)))
    assert load_damon_params(y) == load_damon_params(MT)
    assert load_damon_params(WI.read_text()) == load_damon_params(WI)


def test_load_schemes_list_form() -> None:
    schemes = load_schemes([
        {"name": "prcl", "action": "pageout",
         "access_pattern": {"sz_bytes": {"min": "4 KiB", "max": "max"},
                            "nr_accesses": {"min": "0 %", "max": "0 %"},
                            "age": {"min": "5 s", "max": "max"}}},
        {"action": "lru_prio", "quotas": {"time_ms": "20 ms", "sz_bytes": 0,
                                          "reset_interval_ms": "1 s",
                                          "weights": {"sz_permil": "0 %",
                                                      "nr_accesses_permil": "30 %",
                                                      "age_permil": "70 %"}}},
    ])
    assert [s.action for s in schemes] == ["pageout", "lru_prio"]
    assert schemes[0].access_pattern.age.min == ("us", 5_000_000)
    assert schemes[1].quotas.time_ms == 20 and schemes[1].quotas.weights.age_permil == 700
    assert load_schemes(dump_schemes(schemes)) == schemes
    with pytest.raises(DamoFormatError) as ei:
        load_schemes([{"action": "pageout"}, {"action": "zap"}])
    assert ei.value.problems[0].startswith("schemes[1].action: got 'zap'")


# ---------------------------------------------------------------- dump

@pytest.mark.parametrize("path", [WI, MT], ids=["weighted_interleave", "mem_tier"])
def test_dump_reloads_equal_and_uses_human_units(path: Path) -> None:
    p = load_damon_params(path)
    d = dump_damon_params(p)
    assert load_damon_params(d) == p
    s = d["kdamonds"][0]["contexts"][0]["schemes"][0]
    assert s["quotas"]["sz_bytes"] == "200 MiB"
    assert s["quotas"]["reset_interval_ms"] == "1 s"
    assert s["quotas"]["weights"]["sz_permil"] == "0.1 %"
    assert s["apply_interval_us"] == "1 s"
    iv = d["kdamonds"][0]["contexts"][0]["intervals"]
    assert iv["sample_us"] == "5 ms" and iv["intervals_goal"]["access_bp"] == "4 %"
    assert s["access_pattern"]["sz_bytes"]["max"] == "max"
    # the rest of damo's document is reproduced key for key
    orig = _doc(path)
    assert d.keys() == orig.keys()
    assert s.keys() == _scheme_doc(orig).keys()


def test_dump_exact_for_awkward_values() -> None:
    doc = _doc()
    s = _scheme_doc(doc)
    s["quotas"].update(sz_bytes=4097, reset_interval_ms=1500,
                       weights={"sz_permil": 7, "nr_accesses_permil": 999, "age_permil": 0})
    s["access_pattern"]["nr_accesses"] = {"min": "0.5 %", "max": "max"}
    s["apply_interval_us"] = 1_500
    doc["kdamonds"][0]["contexts"][0]["intervals"]["intervals_goal"]["access_bp"] = 1
    p = load_damon_params(doc)
    d = dump_damon_params(p)
    sd = _scheme_doc(d)
    assert sd["quotas"]["sz_bytes"] == "4,097 B"
    assert sd["quotas"]["reset_interval_ms"] == "1,500 ms"
    assert sd["quotas"]["weights"]["sz_permil"] == "0.7 %"
    assert sd["quotas"]["weights"]["nr_accesses_permil"] == "99.9 %"
    assert sd["access_pattern"]["nr_accesses"] == {"min": "0.5 %", "max": "max"}
    assert sd["apply_interval_us"] == "1,500 us"
    assert d["kdamonds"][0]["contexts"][0]["intervals"]["intervals_goal"]["access_bp"] == "0.01 %"
    assert load_damon_params(d) == p


def test_save_is_atomic_and_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = load_damon_params(MT)
    out = tmp_path / "p.json"
    save_damon_params(p, out)
    assert load_damon_params(out) == p
    save_damon_params(p, tmp_path / "p.yaml")
    assert load_damon_params(tmp_path / "p.yaml") == p
    before = out.read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    import damon_gym.files as f
    monkeypatch.setattr(f.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_damon_params(load_damon_params(WI), out)
    assert out.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.json", "p.yaml"]


def test_raw_ns_keys() -> None:
    doc = _doc()
    s = _scheme_doc(doc)
    s["quotas"].update(time_ms="0", reset_interval_ms="1000000000")
    s["access_pattern"]["age"] = {"min": "5000000000", "max": "18446744073709551615000"}
    s["watermarks"]["interval_us"] = "5000000000"
    s2 = load_damon_params(doc, raw=True).kdamonds[0].contexts[0].schemes[0]
    assert s2.quotas.reset_interval_ms == 1000
    assert s2.access_pattern.age.min == ("us", 5_000_000)
    assert s2.access_pattern.age.max == ("us", U64_MAX)
    assert s2.watermarks.interval_us == 5_000_000
    # read without raw=True the same numbers mean ms/us: the quirk [WF 2.9] warns about
    s3 = load_damon_params(doc).kdamonds[0].contexts[0].schemes[0]
    assert s3.quotas.reset_interval_ms == 1_000_000_000


# ---------------------------------------------------------------- errors

def test_error_names_path_value_and_allowed() -> None:
    doc = _doc(MT)
    _scheme_doc(doc)["quotas"]["goals"][0]["metric"] = "node_mem_hot_bp"
    (line,) = _problems(doc)
    assert line.startswith("kdamonds[0].contexts[0].schemes[0].quotas.goals[0].metric: "
                           "got 'node_mem_hot_bp'; expected one of ")
    assert "'node_mem_used_bp'" in line and "'user_input'" in line


def test_one_line_per_problem() -> None:
    doc = _doc()
    s = _scheme_doc(doc)
    s["action"] = "demote"
    s["quotas"]["sz_bytes"] = "200 XB"
    s["watermarks"]["metric"] = "free"
    doc["kdamonds"][0]["contexts"][0]["intervals"]["sample_us"] = "5 parsecs"
    lines = _problems(doc)
    assert len(lines) == 4
    text = "\n".join(lines)
    assert "kdamonds[0].contexts[0].schemes[0].action: got 'demote'; expected one of" in text
    assert "'migrate_hot'" in text
    assert "kdamonds[0].contexts[0].schemes[0].quotas.sz_bytes: got '200 XB'; expected a size" in text
    assert "kdamonds[0].contexts[0].schemes[0].watermarks.metric: got 'free'" in text
    assert "kdamonds[0].contexts[0].intervals.sample_us: got '5 parsecs'; expected a time with unit" in text


@pytest.mark.parametrize("edit, path, words", [
    (lambda c: c.__setitem__("probes", [{"filters": []}]), "kdamonds[0].contexts[0].probes",
     "not supported"),
    (lambda c: c["sample_control"]["primitives_enabled"].__setitem__("page_fault", True),
     "kdamonds[0].contexts[0].sample_control.primitives_enabled.page_fault", "not supported"),
    (lambda c: c["sample_control"].__setitem__("sample_filters", [{"filter_type": "cpumask"}]),
     "kdamonds[0].contexts[0].sample_control.sample_filters", "not supported"),
    (lambda c: c.__setitem__("addr_unit", "4 KiB"), "kdamonds[0].contexts[0].addr_unit",
     "4,096 is not supported"),
    (lambda c: c["targets"][0].__setitem__("pid", None), "kdamonds[0].contexts[0].targets[0].pid",
     "required for ops vaddr"),
    (lambda c: c["targets"][0].__setitem__("regions", [[0, 8192], [4096, 16384]]),
     "kdamonds[0].contexts[0].targets[0].regions[1]", "must not overlap"),
    (lambda c: c["intervals"].__setitem__("sample_us", "200 ms"), "kdamonds[0].contexts[0].intervals",
     "exceeds aggr_interval"),
    (lambda c: c["nr_regions"].__setitem__("min", 2), "kdamonds[0].contexts[0].intervals",
     "min_nr_regions: 2 is below 3"),
    (lambda c: c["schemes"][0]["filters"].append({"filter_type": "probe_hits_wsum", "matching": True}),
     "kdamonds[0].contexts[0].schemes[0].filters[0].filter_type", "need DAMON probes"),
    (lambda c: c["schemes"][0]["filters"].append({"filter_type": "dirty", "matching": True}),
     "kdamonds[0].contexts[0].schemes[0].filters[0].filter_type", "got 'dirty'; expected one of"),
    (lambda c: c["schemes"][0]["filters"].append({"filter_type": "addr", "matching": True}),
     "kdamonds[0].contexts[0].schemes[0].filters[0].address_range", "required for a addr filter"),
    (lambda c: c["schemes"][0]["quotas"]["goals"].append({"metric": "node_mem_used_bp",
                                                          "target_value": 10}),
     "kdamonds[0].contexts[0].schemes[0].quotas.goals[0].nid", "required for metric"),
    (lambda c: c["schemes"][0].update(dests=[], target_nid=None),
     "kdamonds[0].contexts[0].schemes[0].target_nid", "needs target_nid or dests"),
    (lambda c: c["schemes"][0]["access_pattern"].__setitem__(
        "nr_accesses", {"min": "1 samples", "max": "max"}),
     "kdamonds[0].contexts[0].schemes[0].access_pattern.nr_accesses.max", "unit percent differs"),
    (lambda c: c["schemes"][0]["quotas"]["weights"].__setitem__("sz_permil", "0.05 %"),
     "kdamonds[0].contexts[0].schemes[0].quotas.weights.sz_permil", "whole number of permil"),
])
def test_refusals_name_the_parameter(edit, path: str, words: str) -> None:
    doc = _doc()
    edit(doc["kdamonds"][0]["contexts"][0])
    lines = _problems(doc)
    assert any(line.startswith(path + ":") and words in line for line in lines), lines


def test_two_contexts_per_kdamond_refused() -> None:
    doc = _doc()
    ctxs = doc["kdamonds"][0]["contexts"]
    ctxs.append(copy.deepcopy(ctxs[0]))
    assert _problems(doc) == ["kdamonds[0].contexts: 2 contexts; a kdamond runs at most one "
                              "(kernel limit)"]


def test_document_level_errors(tmp_path: Path) -> None:
    assert _problems([{"action": "stat"}])[0].startswith("(document): a list of schemes")
    assert _problems({"schemes": []})[0].startswith("kdamonds: missing")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json: [")
    assert _problems(bad)[0].startswith(f"{bad}: not JSON or YAML: Expecting property name")
    regions = {"kdamonds": [{"contexts": [{"ops": "vaddr", "targets": [
        {"pid": 1, "regions": [{"start": "x", "end": 5}, [1, 2, 3]]}]}]}]}
    assert _problems(regions) == [
        "kdamonds[0].contexts[0].targets[0].regions[0]: got {'start': 'x', 'end': 5}; "
        'expected a size such as 4096, "4 KiB", "200 MiB" or "max"',
        "kdamonds[0].contexts[0].targets[0].regions[1]: got [1, 2, 3]; "
        "expected an address range as {start, end} or a [start, end] pair"]
    assert isinstance(DamoFormatError(["x"]), ValueError)


def test_model_is_pydantic_and_typed() -> None:
    p = load_damon_params(WI)
    assert isinstance(p, DamonParams)
    again = DamonParams.model_validate(p.model_dump())
    assert again == p
