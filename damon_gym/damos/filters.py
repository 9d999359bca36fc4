"""DAMOS filters: core-layer (addr, target) per region, ops-layer (anon, young, hugepage_size,
unmapped) per folio, with the kernel's allow/reject evaluation and default rule.

Evaluation [DS 6.2]: core filters first, then ops filters, each group
in installation order; the first filter that matches decides (allow -> accept, reject ->
reject; a core allow-match skips the ops group). When no filter of a group matches, the group's
default is reject if its last filter is an allow filter, else accept -- except that the core
group accepts by default whenever ops filters exist.

Simulation model of the per-folio facts: all simulated memory is anonymous and mapped; a folio
is one simulation page (so hugepage_size compares the page size); ``young`` means the page was
accessed since its accessed bit was last checked, which for a filter evaluated once per apply
interval is Bernoulli(1 - exp(-rate * apply_interval)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CORE_TYPES = ("addr", "target")
OPS_TYPES = ("anon", "young", "hugepage_size", "unmapped")
REFUSED_TYPES = {
    "memcg": "the simulated workloads have no memory cgroups",
    "active": "the active/inactive LRU lists are not modelled",
}


@dataclass(frozen=True)
class Filter:
    """struct damos_filter."""

    type: str
    matching: bool = True
    allow: bool = False
    addr_range: tuple[int, int] | None = None
    target_idx: int | None = None
    hugepage_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.type in REFUSED_TYPES:
            raise ValueError(f"filter type {self.type!r} is not supported: {REFUSED_TYPES[self.type]}")
        if self.type not in CORE_TYPES + OPS_TYPES:
            raise ValueError(f"filter type {self.type!r} is not known; allowed: "
                             f"{', '.join(CORE_TYPES + OPS_TYPES)}")

    @property
    def is_core(self) -> bool:
        return self.type in CORE_TYPES


def default_reject(filters: list[Filter]) -> tuple[bool, bool]:
    """damos_set_filters_default_reject(): (core default reject, ops default reject)."""
    core = [f for f in filters if f.is_core]
    ops = [f for f in filters if not f.is_core]
    core_rej = bool(core) and core[-1].allow and not ops
    ops_rej = bool(ops) and ops[-1].allow
    return core_rej, ops_rej


def split_points(filters: list[Filter], min_region_sz: int) -> list[int]:
    """Addresses at which addr filters split regions (range ends aligned down)."""
    pts: list[int] = []
    for f in filters:
        if f.type == "addr" and f.addr_range is not None:
            pts += [f.addr_range[0] // min_region_sz * min_region_sz,
                    f.addr_range[1] // min_region_sz * min_region_sz]
    return sorted(set(pts))


def core_verdict(filters: list[Filter], start: np.ndarray, end: np.ndarray,
                 target_idx: int) -> tuple[np.ndarray, np.ndarray]:
    """Per region: (passes the core group, an allow filter matched so ops filters are skipped).

    Regions are assumed already split at addr filter boundaries."""
    n = start.shape[0]
    decided = np.zeros(n, bool)
    verdict = np.ones(n, bool)
    skip_ops = np.zeros(n, bool)
    core = [f for f in filters if f.is_core]
    for f in core:
        if f.type == "addr":
            lo, hi = f.addr_range  # type: ignore[misc]
            has = (start >= lo) & (end <= hi)
        else:
            has = np.full(n, target_idx == f.target_idx)
        match = (has == f.matching) & ~decided
        verdict[match] = f.allow
        skip_ops[match] = f.allow
        decided |= match
    core_rej, _ = default_reject(filters)
    verdict[~decided] = not core_rej
    return verdict, skip_ops


def ops_verdict(filters: list[Filter], n: int, page_size: int,
                young: np.ndarray | None) -> np.ndarray | None:
    """Per folio: passes the ops group (None when there are no ops filters).

    ``young`` is the per-folio young state (drawn by the caller) when a young filter exists."""
    ops = [f for f in filters if not f.is_core]
    if not ops:
        return None
    decided = np.zeros(n, bool)
    verdict = np.ones(n, bool)
    for f in ops:
        if f.type == "anon":
            has = np.ones(n, bool)
        elif f.type == "unmapped":
            has = np.zeros(n, bool)
        elif f.type == "hugepage_size":
            lo, hi = f.hugepage_size  # type: ignore[misc]
            has = np.full(n, lo <= page_size <= hi)
        else:  # young
            if young is None:
                raise ValueError("ops_verdict: a young filter needs the per-folio young state")
            has = young
        match = (has == f.matching) & ~decided
        verdict[match] = f.allow
        decided |= match
    _, ops_rej = default_reject(filters)
    verdict[~decided] = not ops_rej
    return verdict


def needs_young(filters: list[Filter]) -> bool:
    return any(f.type == "young" for f in filters)
