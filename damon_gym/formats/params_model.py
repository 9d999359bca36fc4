"""The models of DAMON parameter documents in damo's JSON/YAML layout (``damo args damon
--format json``); reading and writing them is params_io's, and both are used through
:mod:`damon_gym.formats.params`.

Typed pydantic v2 models of the ``{"kdamonds": [...]}`` document [WF 2.9].
Values keep the unit the field names: bytes, microseconds (``_us``), milliseconds (``_ms``),
permil, basis points. Every numeric field reads damo's human form ("5 ms", "200.000 MiB",
"0.1 %", "1,000", "max") as well as bare numbers in the key's unit.

Parameters the simulator cannot honour are refused with a message naming them: non-empty
``probes``, page-fault sampling or ``sample_filters``, ``addr_unit`` other than 1, more than one
context per kdamond (a kernel limit), unknown actions, goal metrics and filter types.

``ContextParams.attrs()`` gives the monitoring attributes the simulator runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from damon_gym.damon.attrs import Attrs, IntervalsGoal
from damon_gym.formats._fields import (
    Bp,
    DamoFormatError,
    Int,
    OptInt,
    Permil,
    Size,
    TimeMs,
    TimeUs,
    age_bound,
    dest_pair,
    nr_accesses_bound,
    opt_range,
    opt_size_pair,
    regions_list,
    to_bp,
    to_int,
    to_time_us,
)
from damon_gym.units import U64_MAX

__all__ = [
    "ACTIONS", "GOAL_METRICS", "FILTER_TYPES", "DamoFormatError", "DamonParams", "KdamondParams",
    "ContextParams", "TargetParams", "IntervalsParams", "IntervalsGoalParams", "NrRegionsParams",
    "SampleControlParams", "SchemeParams", "AccessPatternParams", "QuotaParams", "QuotaGoalParams",
    "QuotaWeights", "WatermarkParams", "FilterParams",
]


ACTIONS = ("willneed", "cold", "pageout", "hugepage", "collapse", "nohugepage", "lru_prio",
           "lru_deprio", "migrate_hot", "migrate_cold", "stat")
GOAL_METRICS = ("user_input", "some_mem_psi_us", "node_mem_used_bp", "node_mem_free_bp",
                "node_memcg_used_bp", "node_memcg_free_bp", "active_mem_bp", "inactive_mem_bp",
                "node_eligible_mem_bp", "node_ineligible_mem_bp")
# node_ineligible_mem_bp is the RFC's (R. Jonnalagadda, 2026), not in any kernel release; the
# simulator runs it only when a scenario opts in (rfc_goal_metrics: true).
BP_METRICS = frozenset(m for m in GOAL_METRICS if m.endswith("_bp"))
NID_METRICS = frozenset({"node_mem_used_bp", "node_mem_free_bp", "node_memcg_used_bp",
                         "node_memcg_free_bp", "node_eligible_mem_bp", "node_ineligible_mem_bp"})
MEMCG_METRICS = frozenset({"node_memcg_used_bp", "node_memcg_free_bp"})
FILTER_TYPES = ("anon", "active", "memcg", "young", "hugepage_size", "unmapped", "addr", "target")

Action = Literal["willneed", "cold", "pageout", "hugepage", "collapse", "nohugepage", "lru_prio",
                 "lru_deprio", "migrate_hot", "migrate_cold", "stat"]
GoalMetric = Literal["user_input", "some_mem_psi_us", "node_mem_used_bp", "node_mem_free_bp",
                     "node_memcg_used_bp", "node_memcg_free_bp", "active_mem_bp",
                     "inactive_mem_bp", "node_eligible_mem_bp", "node_ineligible_mem_bp"]
FilterType = Literal["anon", "active", "memcg", "young", "hugepage_size", "unmapped", "addr",
                     "target"]
NrUnit = Literal["percent", "samples"]
AgeUnit = Literal["us", "aggr_intervals"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _problems(lines: list[str]) -> None:
    if lines:
        raise ValueError("\n".join("@" + line for line in lines))


NrAccessesBound = Annotated[tuple[NrUnit, int | float], BeforeValidator(nr_accesses_bound)]
AgeBound = Annotated[tuple[AgeUnit, int], BeforeValidator(age_bound)]


# ---------------------------------------------------------------- scheme

class SizeRange(_Model):
    min: Size = 0
    max: Size = U64_MAX


class NrAccessesRange(_Model):
    """Bounds with their unit: ("percent", 5) or ("samples", 1); "max" is 2**64-1."""

    min: NrAccessesBound = ("percent", 0)
    max: NrAccessesBound = ("percent", U64_MAX)

    @model_validator(mode="after")
    def _same_unit(self) -> NrAccessesRange:
        if self.min[0] != self.max[0]:
            _problems([f"max: unit {self.max[0]} differs from min's {self.min[0]} (damo needs one unit)"])
        return self


class AgeRange(_Model):
    """Bounds with their unit: ("us", 5000000) or ("aggr_intervals", 50)."""

    min: AgeBound = ("us", 0)
    max: AgeBound = ("us", U64_MAX)

    @model_validator(mode="after")
    def _same_unit(self) -> AgeRange:
        if self.min[0] != self.max[0]:
            _problems([f"max: unit {self.max[0]} differs from min's {self.min[0]} (damo needs one unit)"])
        return self


def _samples_per_aggr(attrs: Attrs) -> float:
    return attrs.aggr_interval / max(attrs.sample_interval, 1)


class AccessPatternParams(_Model):
    sz_bytes: SizeRange = Field(default_factory=SizeRange)
    nr_accesses: NrAccessesRange = Field(default_factory=NrAccessesRange)
    age: AgeRange = Field(default_factory=AgeRange)

    def nr_accesses_samples(self, attrs: Attrs) -> tuple[int, int]:
        """[min, max] in samples per aggregation, converted as damo does for the kernel:
        int(percent * (aggr / sample) / 100); "max" stays 2**64-1."""
        out = []
        for unit, v in (self.nr_accesses.min, self.nr_accesses.max):
            if v >= U64_MAX:
                out.append(U64_MAX)
            elif unit == "samples":
                out.append(int(v))
            else:
                out.append(int(v * _samples_per_aggr(attrs) / 100))
        return out[0], out[1]

    def age_aggr_intervals(self, attrs: Attrs) -> tuple[int, int]:
        """[min, max] in aggregation intervals: int(us / aggr_us) as damo converts."""
        out = []
        for unit, v in (self.age.min, self.age.max):
            if v >= U64_MAX or unit == "aggr_intervals":
                out.append(int(v))
            else:
                out.append(int(v / max(attrs.aggr_interval, 1)))
        return out[0], out[1]


class QuotaGoalParams(_Model):
    metric: GoalMetric
    complement: bool = False
    nid: OptInt = None
    memcg_path: str | None = None
    target_value: int = 0
    current_value: Int = 0

    @field_validator("target_value", mode="before")
    @classmethod
    def _target(cls, value: Any, info: ValidationInfo) -> int:
        metric = info.data.get("metric")
        if metric in BP_METRICS:
            return to_bp(value)       # bare = bp, "99.7 %" = 9970 bp
        if metric == "some_mem_psi_us":
            return to_time_us(value)
        return to_int(value)

    @model_validator(mode="after")
    def _needs(self) -> QuotaGoalParams:
        p = []
        if self.metric in NID_METRICS and self.nid is None:
            p.append(f"nid: required for metric {self.metric}")
        if self.metric in MEMCG_METRICS and not self.memcg_path:
            p.append(f"memcg_path: required for metric {self.metric}")
        _problems(p)
        return self


class QuotaWeights(_Model):
    sz_permil: Permil = 0
    nr_accesses_permil: Permil = 0
    age_permil: Permil = 0


class QuotaParams(_Model):
    time_ms: TimeMs = 0
    sz_bytes: Size = 0
    reset_interval_ms: TimeMs = U64_MAX
    fail_charge_num: Int = 0
    fail_charge_denom: Int = 0
    goals: list[QuotaGoalParams] = Field(default_factory=list)
    goal_tuner: Literal["consist", "temporal"] = "consist"
    effective_sz_bytes: Size = 0
    weights: QuotaWeights = Field(default_factory=QuotaWeights)


class WatermarkParams(_Model):
    metric: Literal["none", "free_mem_rate"] = "none"
    interval_us: TimeUs = 0
    high_permil: Permil = 0
    mid_permil: Permil = 0
    low_permil: Permil = 0


class FilterParams(_Model):
    filter_type: FilterType
    matching: bool = True
    allow: bool = False
    memcg_path: str | None = None
    address_range: Annotated[tuple[int, int] | None, BeforeValidator(opt_range)] = None
    damon_target_idx: OptInt = None
    hugepage_size: Annotated[tuple[int, int] | None, BeforeValidator(opt_size_pair)] = None

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "allow" not in data and "filter_pass" in data:
            data = dict(data, allow=data["filter_pass"])   # damo < 2.6 called it filter_pass
        return data

    @field_validator("filter_type", mode="before")
    @classmethod
    def _probe(cls, value: Any) -> Any:
        if value == "probe_hits_wsum":
            raise ValueError("probe_hits_wsum filters need DAMON probes, which the simulator "
                             f"does not support; expected one of {', '.join(FILTER_TYPES)}")
        return value

    @model_validator(mode="after")
    def _args(self) -> FilterParams:
        if self.memcg_path == "":
            self.memcg_path = None        # damo writes "" for filters other than memcg
        need = {"memcg": "memcg_path", "addr": "address_range", "target": "damon_target_idx",
                "hugepage_size": "hugepage_size"}.get(self.filter_type)
        if need and getattr(self, need) in (None, ""):
            _problems([f"{need}: required for a {self.filter_type} filter"])
        rng = self.address_range
        if self.filter_type == "addr" and rng is not None and rng[0] >= rng[1]:
            _problems([f"address_range: start {rng[0]:,} is not below end {rng[1]:,}"])
        return self


class SchemeParams(_Model):
    action: Action
    dests: list[Annotated[tuple[int, int], BeforeValidator(dest_pair)]] = Field(default_factory=list)
    target_nid: OptInt = None
    access_pattern: AccessPatternParams = Field(default_factory=AccessPatternParams)
    apply_interval_us: TimeUs = 0
    quotas: QuotaParams = Field(default_factory=QuotaParams)
    watermarks: WatermarkParams = Field(default_factory=WatermarkParams)
    filters: list[FilterParams] = Field(default_factory=list)
    max_nr_snapshots: OptInt = None

    @model_validator(mode="after")
    def _migrate(self) -> SchemeParams:
        if self.action in ("migrate_hot", "migrate_cold"):
            if not self.dests and (self.target_nid is None or self.target_nid < 0):
                _problems([f"target_nid: {self.action} needs target_nid or dests"])
        return self


# ---------------------------------------------------------------- context

class TargetParams(_Model):
    pid: OptInt = None
    obsolete: bool = False
    regions: Annotated[list[tuple[int, int]], BeforeValidator(regions_list)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sorted(self) -> TargetParams:
        p = []
        prev_end = None
        for i, (s, e) in enumerate(self.regions):
            if s >= e:
                p.append(f"regions[{i}]: start {s:,} is not below end {e:,}")
            elif prev_end is not None and s < prev_end:
                p.append(f"regions[{i}]: starts at {s:,}, before the previous region's end {prev_end:,} "
                         "(regions must be sorted and must not overlap)")
            prev_end = e
        _problems(p)
        return self


class IntervalsGoalParams(_Model):
    access_bp: Bp = 0
    aggrs: Int = 0
    min_sample_us: TimeUs = 0
    max_sample_us: TimeUs = 0


class IntervalsParams(_Model):
    sample_us: TimeUs = 5_000
    aggr_us: TimeUs = 100_000
    ops_update_us: TimeUs = 1_000_000     # damo's default (the kernel's is 60 s)
    intervals_goal: IntervalsGoalParams = Field(default_factory=IntervalsGoalParams)


class NrRegionsParams(_Model):
    min: Int = 10
    max: Int = 1000


class PrimitivesEnabled(_Model):
    page_table: bool = True
    page_fault: bool = False


class SampleControlParams(_Model):
    primitives_enabled: PrimitivesEnabled = Field(default_factory=PrimitivesEnabled)
    sample_filters: list[Any] = Field(default_factory=list)


class ContextParams(_Model):
    ops: Literal["vaddr", "fvaddr", "paddr"]
    addr_unit: Size = 1
    targets: list[TargetParams] = Field(default_factory=list)
    intervals: IntervalsParams = Field(default_factory=IntervalsParams)
    nr_regions: NrRegionsParams = Field(default_factory=NrRegionsParams)
    probes: list[Any] = Field(default_factory=list)
    sample_control: SampleControlParams = Field(default_factory=SampleControlParams)
    pause: bool = False
    schemes: list[SchemeParams] = Field(default_factory=list)

    def attrs(self) -> Attrs:
        """The monitoring attributes (struct damon_attrs) of this context, in microseconds."""
        i, g = self.intervals, self.intervals.intervals_goal
        return Attrs(sample_interval=i.sample_us, aggr_interval=i.aggr_us,
                     ops_update_interval=i.ops_update_us, min_nr_regions=self.nr_regions.min,
                     max_nr_regions=self.nr_regions.max,
                     intervals_goal=IntervalsGoal(access_bp=g.access_bp, aggrs=g.aggrs,
                                                  min_sample_us=g.min_sample_us,
                                                  max_sample_us=g.max_sample_us))

    @model_validator(mode="after")
    def _supported(self) -> ContextParams:
        p = []
        if self.addr_unit != 1:
            p.append(f"addr_unit: {self.addr_unit:,} is not supported by the simulator (only 1 B)")
        if self.probes:
            p.append("probes: DAMON probes are not supported by the simulator (expected [])")
        prim = self.sample_control.primitives_enabled
        if prim.page_fault:
            p.append("sample_control.primitives_enabled.page_fault: page-fault sampling is not "
                     "supported by the simulator (expected false)")
        if not prim.page_table:
            p.append("sample_control.primitives_enabled.page_table: the simulator samples "
                     "page-table accessed bits only (expected true)")
        if self.sample_control.sample_filters:
            p.append("sample_control.sample_filters: sample filters are not supported by the "
                     "simulator (expected [])")
        iv = self.intervals
        if iv.sample_us < 1:
            p.append(f"intervals.sample_us: {iv.sample_us} is not simulated (DAMON would sample "
                     "without pause, a run would never end); allowed: >= 1 us")
        if iv.aggr_us < iv.sample_us or iv.aggr_us > 3_600_000_000:
            p.append(f"intervals.aggr_us: {iv.aggr_us:,}; allowed: sample_us ({iv.sample_us:,})"
                     " .. 3,600,000,000 us (one hour)")
        for t, target in enumerate(self.targets):
            if self.ops != "paddr" and target.pid is None:
                p.append(f"targets[{t}].pid: required for ops {self.ops}")
        for s, scheme in enumerate(self.schemes):
            for g, goal in enumerate(scheme.quotas.goals):
                if goal.metric in ("node_eligible_mem_bp", "node_ineligible_mem_bp") \
                        and self.ops != "paddr":
                    p.append(f"schemes[{s}].quotas.goals[{g}].metric: {goal.metric} "
                             f"needs ops paddr (got {self.ops})")
        try:
            self.attrs().validate()
        except ValueError as e:
            p.append(f"intervals: {e}")
        _problems(p)
        return self


class KdamondParams(_Model):
    refresh_ms: TimeMs = 0
    contexts: list[ContextParams] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one(self) -> KdamondParams:
        if len(self.contexts) > 1:
            _problems([f"contexts: {len(self.contexts)} contexts; a kdamond runs at most one "
                       "(kernel limit)"])
        return self


class DamonParams(_Model):
    kdamonds: list[KdamondParams] = Field(default_factory=list)

    def contexts(self) -> list[ContextParams]:
        return [c for k in self.kdamonds for c in k.contexts]


