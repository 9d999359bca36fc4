"""DAMOS quota goals: metrics, the goal score and the two tuners (consist, temporal).

Facts from mm/damon/core.c (damos_quota_score, damon_feed_loop_next_input,
damos_set_effective_quota) as summarised in docs/damon_semantics.md [DS 5]. The
``node_ineligible_mem_bp`` metric is the RFC's (R. Jonnalagadda, 2026) and is opt-in: it is
``10000 - node_eligible_mem_bp`` of the same node.
"""

from __future__ import annotations

from dataclasses import dataclass

from damon_gym.damon.attrs import mult_frac
from damon_gym.damon.counters import feed_loop_next_input

ULONG_MAX = 2**64 - 1

#: metrics the simulator evaluates; others are refused when a scheme is built
SUPPORTED_METRICS = ("user_input", "node_mem_used_bp", "node_mem_free_bp", "node_eligible_mem_bp",
                     "node_ineligible_mem_bp")
#: metrics the simulator refuses, with the reason
REFUSED_METRICS = {
    "some_mem_psi_us": "memory pressure stall (PSI) is not modelled",
    "node_memcg_used_bp": "the simulated workloads have no memory cgroups",
    "node_memcg_free_bp": "the simulated workloads have no memory cgroups",
    "active_mem_bp": "the active/inactive LRU lists are not modelled",
    "inactive_mem_bp": "the active/inactive LRU lists are not modelled",
}


def quota_goal_score(current_value: int, target_value: int) -> int:
    """One goal's score in bp: current * 10000 / target (mult_frac); 10000 = on target."""
    if target_value <= 0:
        raise ValueError(f"target_value: {target_value} must be > 0")
    return mult_frac(current_value, 10000, target_value)


@dataclass
class QuotaGoal:
    """struct damos_quota_goal."""

    metric: str
    target_value: int
    current_value: int = 0
    nid: int | None = None

    def __post_init__(self) -> None:
        if self.metric in REFUSED_METRICS:
            raise ValueError(f"quota goal metric {self.metric!r} is not supported: "
                             f"{REFUSED_METRICS[self.metric]}")
        if self.metric not in SUPPORTED_METRICS:
            raise ValueError(f"quota goal metric {self.metric!r} is not known; allowed: "
                             f"{', '.join(SUPPORTED_METRICS)}")
        if self.target_value <= 0:
            raise ValueError(f"quota goal target_value: {self.target_value} must be > 0")
        if self.metric != "user_input" and self.nid is None:
            raise ValueError(f"quota goal {self.metric}: nid is required")


def node_mem_used_bp(total_bytes: int, free_bytes: int) -> int:
    """(totalram - freeram) * 10000 / totalram of a node; 0 for an invalid node."""
    if total_bytes <= 0:
        return 0
    return (total_bytes - free_bytes) * 10000 // total_bytes


def node_mem_free_bp(total_bytes: int, free_bytes: int) -> int:
    """freeram * 10000 / totalram of a node; 10000 for an invalid node."""
    if total_bytes <= 0:
        return 10000
    return free_bytes * 10000 // total_bytes


def node_eligible_mem_bp(eligible_on_node: int, eligible_total: int) -> int:
    """Bytes of pattern-eligible memory on the node * 10000 / all eligible bytes; 0 if none."""
    if eligible_total <= 0:
        return 0
    return eligible_on_node * 10000 // eligible_total


def next_esz_bp(tuner: str, esz_bp: int, score: int, sz: int) -> int:
    """One step of a goal tuner [DS 5.4] from the previous esz_bp and the goal score."""
    if tuner == "consist":
        return feed_loop_next_input(max(esz_bp, 10000), score)
    if tuner == "temporal":
        if score >= 10000:
            return 0
        return sz * 10000 if sz else ULONG_MAX
    raise ValueError(f"goal_tuner: {tuner!r}; allowed: consist, temporal")
