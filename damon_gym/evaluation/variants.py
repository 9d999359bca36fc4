"""Scenario variants for the Colloid-style heatmap: a base scenario (a gups-like one) with the
background load (constant antagonist cores on the fast node) and the slow node's idle latency
overridden, built as scenario dicts (the base's fields, the topology inlined).

``variant_scenario({"base": "smoke-gups", "background_cores": 4, "slow_latency_ns": 400})``
is what a heatmap row's ``scenario_spec`` holds, so ``damon-gym replay`` rebuilds it.
"""

from __future__ import annotations

from typing import Any

import yaml

HEATMAP_SCENARIO = "smoke-gups"
HEATMAP_CORES = (0, 4, 8)
HEATMAP_LATENCIES_NS = (150, 250, 400)


def _topology_dict(topo: str | dict, base_dir: str | None) -> dict:
    if isinstance(topo, dict):
        return dict(topo)
    from damon_gym.build import topology_file

    return yaml.safe_load(topology_file(topo, base_dir).read_text())


def variant_name(spec: dict) -> str:
    return (f"{spec['base']}@bg{spec['background_cores']:g}"
            f"-lat{spec['slow_latency_ns']:g}")


def variant_scenario(spec: dict) -> dict[str, Any]:
    """The scenario dict of a variant: ``spec`` has ``base`` (a scenario name or path),
    ``background_cores`` and ``slow_latency_ns`` (the idle latency of the node with the
    highest one)."""
    from damon_gym.scenario import load_scenario

    sc = load_scenario(spec["base"])
    data = sc.model_dump(by_alias=True, exclude={"base_dir"})
    topo = _topology_dict(data["topology"], sc.base_dir)
    nodes = [dict(n) for n in topo["nodes"]]
    slow = max(range(len(nodes)), key=lambda i: float(nodes[i].get("idle_latency_ns", 0)))
    nodes[slow]["idle_latency_ns"] = float(spec["slow_latency_ns"])
    topo["nodes"] = nodes
    topo["name"] = f"{topo.get('name', 'topology')}-lat{spec['slow_latency_ns']:g}"
    data.update(name=variant_name(spec), topology=topo,
                background=float(spec["background_cores"]))
    return data


def heatmap_specs(base: str = HEATMAP_SCENARIO, cores=HEATMAP_CORES,
                  latencies=HEATMAP_LATENCIES_NS) -> list[dict]:
    """The grid: background cores (rows) x slow-node latency (columns)."""
    return [{"base": base, "background_cores": c, "slow_latency_ns": lat}
            for c in cores for lat in latencies]
