"""Topology presets [PM 2.9], validation messages, scaling, fallback order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from damon_gym.memory.topology import (
    TOPOLOGY_DIR,
    NodeSpec,
    Topology,
    TopologyError,
    available_topologies,
    load_topology,
    topology_from_dict,
)

GiB = 1 << 30
MiB = 1 << 20
PRESETS = ["P1-SPR", "P1-AMD", "P1-Meta", "P2", "P3", "P4"]


def _node(**kw):
    base = {"name": "n", "kind": "dram", "capacity": "1 GiB", "bw_read_gbps": 10,
            "idle_latency_ns": 100}
    base.update(kw)
    return base


def _topo(*nodes, **kw):
    return {"name": "t", "nodes": list(nodes), **kw}


def test_presets_are_listed_and_load():
    names = available_topologies()
    for p in [*PRESETS, "tiny"]:
        assert p in names
        t = load_topology(p)
        assert t.name == p
        assert "[" in t.description  # sources tag
        assert 2 <= t.nr_nodes <= 8


@pytest.mark.parametrize("name, weights", [
    ("P1-SPR", [28, 3]), ("P1-AMD", [23, 8]), ("P1-Meta", [29, 2]), ("P2", [22, 9]),
    ("P3", [25, 4, 2]), ("P4", [8, 23]), ("tiny", [23, 8]),
])
def test_preset_auto_weights(name, weights):
    assert load_topology(name).auto_weights() == weights


def test_preset_values_follow_perf_model():
    spr = load_topology("P1-SPR")
    assert spr.capacities == [128 * GiB, 96 * GiB]
    assert (spr.nodes[0].bw_read_gbps, spr.nodes[0].bw_rw_gbps) == (205, 190)
    assert spr.nodes[1].hmat_bw_gbps == 22  # min(22.3, 22)
    assert spr.nodes[1].idle_latency_ns == spr.nodes[0].idle_latency_ns + 80
    assert spr.nodes[1].curve_b == 0.15
    meta = load_topology("P1-Meta")
    assert [(n.bw_read_gbps, n.bw_rw_gbps) for n in meta.nodes] == [(497, 439), (48, 42)]
    assert [(n.curve_a, n.curve_b) for n in meta.nodes] == [(0.72, 0.063), (0.33, 0.007)]
    p2 = load_topology("P2")
    assert [n.kind for n in p2.nodes] == ["dram", "remote"]
    p3 = load_topology("P3")
    assert [n.bw_read_gbps for n in p3.nodes] == [300, 57, 24]
    assert p3.capacities == [512 * GiB, 256 * GiB, 128 * GiB]
    p4 = load_topology("P4")
    hbm = p4.node_id("hbm")
    assert p4.nodes[hbm].kind == "hbm" and p4.nodes[hbm].capacity == 64 * GiB
    assert p4.nodes[hbm].idle_latency_ns > p4.nodes[p4.cpu_node].idle_latency_ns
    tiny = load_topology("tiny")
    assert tiny.capacities == [256 * MiB, 256 * MiB]
    assert [n.idle_latency_ns for n in tiny.nodes] == [110, 250]


def test_bandwidth_defaults():
    n = NodeSpec.model_validate(_node(bw_read_gbps=50))
    assert n.bw_rw_gbps == 50 and n.hmat_bw_gbps == 50
    n = NodeSpec.model_validate(_node(bw_read_gbps=50, bw_rw_gbps=40))
    assert n.hmat_bw_gbps == 40
    n = NodeSpec.model_validate(_node(bw_read_gbps=50, bw_rw_gbps=40, hmat_bw_gbps=45))
    assert n.hmat_bw_gbps == 45 and n.hmat_bw_mbps == 45_000
    assert (n.curve_a, n.curve_b) == (0.5, 0.05)
    assert NodeSpec.model_validate(_node(capacity=4096)).capacity == 4096
    assert NodeSpec.model_validate(_node(capacity="1.5 GiB")).capacity == 3 * GiB // 2


def test_models_are_frozen():
    t = load_topology("tiny")
    with pytest.raises(ValidationError):
        t.cpu_node = 1  # type: ignore[misc]


def test_scaled():
    t = load_topology("P1-SPR")
    s = t.scaled(0.001)
    # 128 GiB * 0.001 = 131.07 MiB -> 130 MiB; 96 GiB * 0.001 = 98.3 MiB -> 98 MiB
    assert s.capacities == [130 * MiB, 98 * MiB]
    assert all(c % (2 * MiB) == 0 for c in s.capacities)
    assert t.capacities == [128 * GiB, 96 * GiB]  # original untouched
    assert s.nodes[0].bw_read_gbps == 205 and s.auto_weights() == t.auto_weights()
    assert t.scaled(1e-9).capacities == [2 * MiB, 2 * MiB]
    with pytest.raises(ValueError):
        t.scaled(0)
    with pytest.raises(ValueError):
        t.scaled(float("nan"))


def test_fallback_order():
    p3 = load_topology("P3")
    assert p3.fallback_order(0) == [0, 1, 2]
    assert p3.fallback_order(2) == [2, 0, 1]
    t = topology_from_dict(_topo(_node(name="a", idle_latency_ns=100),
                                 _node(name="b", idle_latency_ns=300),
                                 _node(name="c", idle_latency_ns=200),
                                 _node(name="d", idle_latency_ns=200)))
    assert t.fallback_order(1) == [1, 0, 2, 3]
    assert t.fallback_order(3) == [3, 0, 2, 1]  # ties by id
    with pytest.raises(ValueError):
        t.fallback_order(4)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


GOOD_NODE = "  - {name: a, kind: dram, capacity: 1 GiB, bw_read_gbps: 10, idle_latency_ns: 100}\n"


def test_bad_yaml_names_file_field_value_and_range(tmp_path):
    p = _write(tmp_path, "name: x\nnodes:\n" + GOOD_NODE +
               "  - {name: b, kind: cxl, capacity: 1 GiB, bw_read_gbps: -5, idle_latency_ns: 100}\n")
    with pytest.raises(ValueError) as ei:
        load_topology(p)
    msg = str(ei.value)
    assert msg.count("\n") == 0
    assert str(p) in msg and "nodes[1].bw_read_gbps" in msg and "-5" in msg and "> 0" in msg


def test_several_errors_one_line_each(tmp_path):
    p = _write(tmp_path, "name: x\nflavour: 3\ncpu_node: 0\nnodes:\n" + GOOD_NODE +
               "  - {name: b, kind: ssd, capacity: lots, bw_read_gbps: 1, idle_latency_ns: 0,"
               " curve_a: -1}\n")
    with pytest.raises(TopologyError) as ei:
        load_topology(str(p))
    lines = str(ei.value).splitlines()
    assert len(lines) == 5
    assert all(line.startswith(str(p)) for line in lines)
    text = str(ei.value)
    assert "nodes[1].kind: must be one of 'dram', 'cxl', 'hbm' or 'remote' (got 'ssd')" in text
    assert "nodes[1].capacity" in text and "'lots'" in text and "GiB" in text
    assert "nodes[1].idle_latency_ns: must be > 0" in text
    assert "nodes[1].curve_a: must be >= 0" in text
    assert "flavour: unknown key; allowed keys: name, description, nodes, cpu_node" in text


def test_unknown_node_key_lists_node_fields():
    with pytest.raises(TopologyError, match=r"nodes\[0\]\.bw: unknown key; allowed keys: name, kind"):
        topology_from_dict(_topo(_node(bw=3), _node(name="m")))


@pytest.mark.parametrize("data, needle", [
    (_topo(_node()), "nodes: needs 2..8 nodes, got 1"),
    (_topo(*[_node(name=str(i)) for i in range(9)]), "nodes: needs 2..8 nodes, got 9"),
    (_topo(_node(name="a"), _node(name="b"), cpu_node=2), "cpu_node: 2 is not a node id (allowed: 0..1)"),
    (_topo(_node(name="a"), _node(name="a")), "duplicate node names ['a']"),
    (_topo(_node(name="a"), _node(name="b", capacity="max")), "nodes[1].capacity"),
    (_topo(_node(name="a"), _node(name="b", bw_read_gbps=float("inf"))), "finite"),
    ({"nodes": [_node(name="a"), _node(name="b")]}, "name: required field is missing"),
])
def test_validation_messages(data, needle):
    with pytest.raises(TopologyError) as ei:
        topology_from_dict(data, "src.yaml")
    assert needle in str(ei.value)
    assert str(ei.value).startswith("src.yaml: ")


def test_unknown_name_lists_available():
    with pytest.raises(ValueError) as ei:
        load_topology("P9")
    assert "P9" in str(ei.value)
    for p in PRESETS:
        assert p in str(ei.value)


def test_load_errors_for_files(tmp_path):
    with pytest.raises(TopologyError, match="no such topology file"):
        load_topology(tmp_path / "missing.yaml")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(TopologyError, match="expected a mapping"):
        load_topology(_write(tmp_path, "- 1\n- 2\n"))


def test_load_by_path_equals_by_name(monkeypatch):
    by_name = load_topology("P3")
    assert load_topology(TOPOLOGY_DIR / "P3.yaml") == by_name
    monkeypatch.chdir(TOPOLOGY_DIR.parent.parent)
    assert load_topology("configs/topologies/P3.yaml") == by_name
    assert isinstance(by_name, Topology)
