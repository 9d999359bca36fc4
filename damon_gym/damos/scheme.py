"""A DAMOS scheme at run time (struct damos): its user parameters, converted to kernel units
for the context's attrs, and the private state the kernel keeps (quota, stats, next apply).

``Scheme.from_params`` builds one from damo's JSON scheme object; ``commit`` copies the user
fields of another scheme while keeping stats, quota state and next_apply_sis, as
damon_commit_ctx does [DS 7].
"""

from __future__ import annotations

from dataclasses import dataclass, field

from damon_gym.damon.attrs import Attrs
from damon_gym.damos.dests import PADDR_DEST_MODES, RoundRobinState
from damon_gym.damos.filters import Filter
from damon_gym.damos.goals import QuotaGoal
from damon_gym.damos.quota import QuotaState

ACTIONS = ("migrate_hot", "migrate_cold", "stat")
U64_MAX = 2**64 - 1


@dataclass
class AccessPattern:
    """Closed ranges: size in bytes, nr_accesses in samples per aggregation, age in
    aggregation intervals."""

    min_sz: int = 0
    max_sz: int = U64_MAX
    min_nr_accesses: int = 0
    max_nr_accesses: int = U64_MAX
    min_age: int = 0
    max_age: int = U64_MAX


@dataclass
class Quota:
    """The user fields of struct damos_quota (ms, bytes, ms, permil weights)."""

    ms: int = 0
    sz: int = 0
    reset_interval_ms: int = 0
    weight_sz: int = 0
    weight_nr_accesses: int = 0
    weight_age: int = 0
    goals: list[QuotaGoal] = field(default_factory=list)
    goal_tuner: str = "consist"

    @property
    def has_limits(self) -> bool:
        return bool(self.ms or self.sz or self.goals)


@dataclass
class Watermarks:
    """struct damos_watermarks; metric 'none' or 'free_mem_rate' (permil)."""

    metric: str = "none"
    interval_us: int = 0
    high: int = 0
    mid: int = 0
    low: int = 0


@dataclass
class SchemeStats:
    """struct damos_stat."""

    nr_tried: int = 0
    sz_tried: int = 0
    nr_applied: int = 0
    sz_applied: int = 0
    sz_ops_filter_passed: int = 0
    qt_exceeds: int = 0
    nr_snapshots: int = 0


@dataclass
class Scheme:
    action: str
    pattern: AccessPattern = field(default_factory=AccessPattern)
    apply_interval_us: int = 0
    quota: Quota = field(default_factory=Quota)
    wmarks: Watermarks = field(default_factory=Watermarks)
    target_nid: int = -1
    dests: list[tuple[int, int]] = field(default_factory=list)  # (node id, weight)
    filters: list[Filter] = field(default_factory=list)
    max_nr_snapshots: int = 0
    paddr_dests: str = "kernel"
    # private state
    qstate: QuotaState = field(default_factory=QuotaState)
    stats: SchemeStats = field(default_factory=SchemeStats)
    next_apply_sis: int = 0
    wmark_active: bool = True
    rr: RoundRobinState = field(default_factory=RoundRobinState)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action {self.action!r} is not simulated; allowed: {', '.join(ACTIONS)}")
        if self.paddr_dests not in PADDR_DEST_MODES:
            raise ValueError(f"paddr_dests: {self.paddr_dests!r}; allowed: {', '.join(PADDR_DEST_MODES)}")
        if self.quota.goal_tuner not in ("consist", "temporal"):
            raise ValueError(f"goal_tuner: {self.quota.goal_tuner!r}; allowed: consist, temporal")
        for i, (_, w) in enumerate(self.dests):
            if w < 0:
                raise ValueError(f"dests[{i}].weight: {w} must be >= 0")
        self.wmark_active = self.wmarks.metric == "none"

    @property
    def quota_set(self) -> bool:
        """damos_quota_is_set(): esz, sz, ms or goals."""
        q = self.quota
        return bool(self.qstate.esz or q.sz or q.ms or q.goals)

    def quota_full(self) -> bool:
        """[B] charged_sz >= esz on a set quota."""
        return self.quota_set and self.qstate.charged_sz >= self.qstate.esz

    def apply_interval_sis(self, attrs: Attrs) -> int:
        ai = self.apply_interval_us or attrs.aggr_interval
        return ai // max(attrs.sample_interval, 1)

    def commit(self, src: Scheme) -> None:
        """damos_commit(): take src's user fields, keep this scheme's private state."""
        self.action = src.action
        self.pattern = src.pattern
        self.apply_interval_us = src.apply_interval_us
        old_goals = self.quota.goals
        self.quota = src.quota
        # goals matched by index: current_value copied only for user_input
        for i, g in enumerate(self.quota.goals):
            if i < len(old_goals) and g.metric != "user_input" and old_goals[i].metric == g.metric:
                g.current_value = old_goals[i].current_value
        was = self.wmarks
        self.wmarks = src.wmarks
        if self.wmarks != was:
            self.wmark_active = True  # committed watermarks come in activated
        self.target_nid = src.target_nid
        self.dests = list(src.dests)
        self.filters = list(src.filters)
        self.max_nr_snapshots = src.max_nr_snapshots
        self.paddr_dests = src.paddr_dests


def scheme_from_params(p, attrs: Attrs, *, paddr_dests: str = "kernel",
                       rfc_goal_metrics: bool = False, capacity_scale: float = 1.0) -> Scheme:
    """A Scheme from a ``damon_gym.formats.params.SchemeParams``, for a context with ``attrs``
    (damo converts "%" of max nr_accesses and times for age with the attrs of the moment).
    Quotas stay in the real machine's bytes (``DamosEngine.byte_scale`` converts them in the
    walk); the access pattern's region sizes are compared with simulated regions, so on a
    machine simulated at ``capacity_scale`` they are scaled here."""
    if p.action not in ACTIONS:
        raise ValueError(f"action {p.action!r} is not simulated (damon-gym models DAMOS "
                         f"migration); allowed: {', '.join(ACTIONS)}")
    q = p.quotas
    if q.fail_charge_denom:
        raise ValueError("quotas.fail_charge_num/fail_charge_denom (v7.2 fail-charge ratio) "
                         "is not simulated; set both to 0")
    for g in q.goals:
        if g.metric == "node_ineligible_mem_bp" and not rfc_goal_metrics:
            raise ValueError("quota goal metric node_ineligible_mem_bp is the 2026 RFC's, not a "
                             "kernel's; set rfc_goal_metrics: true in the scenario to use it")
    nr_lo, nr_hi = p.access_pattern.nr_accesses_samples(attrs)
    age_lo, age_hi = p.access_pattern.age_aggr_intervals(attrs)
    sz_lo, sz_hi = p.access_pattern.sz_bytes.min, p.access_pattern.sz_bytes.max
    if capacity_scale != 1.0:
        sz_lo = int(round(sz_lo * capacity_scale))
        sz_hi = sz_hi if sz_hi >= U64_MAX else int(round(sz_hi * capacity_scale))
    pattern = AccessPattern(sz_lo, sz_hi, nr_lo, nr_hi, age_lo, age_hi)
    goals = [QuotaGoal(metric=g.metric, target_value=g.target_value,
                       current_value=g.current_value, nid=g.nid) for g in q.goals]
    quota = Quota(ms=q.time_ms, sz=q.sz_bytes,
                  reset_interval_ms=q.reset_interval_ms,
                  weight_sz=q.weights.sz_permil, weight_nr_accesses=q.weights.nr_accesses_permil,
                  weight_age=q.weights.age_permil, goals=goals, goal_tuner=q.goal_tuner)
    w = p.watermarks
    wm = Watermarks(w.metric, w.interval_us, w.high_permil, w.mid_permil, w.low_permil)
    filters = [Filter(type=f.filter_type, matching=f.matching, allow=f.allow,
                      addr_range=f.address_range, target_idx=f.damon_target_idx,
                      hugepage_size=f.hugepage_size) for f in p.filters]
    return Scheme(action=p.action, pattern=pattern, apply_interval_us=p.apply_interval_us,
                  quota=quota, wmarks=wm, target_nid=-1 if p.target_nid is None else p.target_nid,
                  dests=[(int(a), int(b)) for a, b in p.dests], filters=filters,
                  max_nr_snapshots=p.max_nr_snapshots or 0, paddr_dests=paddr_dests)
