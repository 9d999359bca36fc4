"""DAMON parameters (damo's layout) as the ordered sysfs writes the guest init performs.

Each write is ``(path, value)`` with ``path`` relative to ``/sys/kernel/mm/damon/admin``. The
guest checks that every file exists before writing it and stops with ``KR_UNSUPPORTED path=...``
when the booted kernel lacks one (``dests`` before v6.16, ``core_filters`` before v6.15 ...),
so a feature the kernel does not have is refused by name instead of silently dropped. Optional
files are written only when the parameters use them (an unused ``intervals_goal`` or
``goal_tuner`` does not make an older kernel refuse the run).

Values the guest knows only at run time are placeholders the init substitutes: ``@PID@`` (the
runner's pid, for every vaddr target) and ``@N<k>_START@``/``@N<k>_END@`` (node k's physical
range, for paddr contexts whose targets give no regions: node ``paddr_nodes[i]`` as the
scenario says, else the i-th paddr context monitors node i, as the simulator binds them).
"""

from __future__ import annotations

from damon_gym.fidelity import HarnessError
from damon_gym.formats.params import DamonParams
from damon_gym.units import U64_MAX

U32_MAX = 2**32 - 1
#: filter types the kernel handles in the core layer (core_filters); the rest are ops filters
CORE_FILTERS = ("addr", "target")


def _u32(v: int) -> int:
    return min(int(v), U32_MAX)


def sysfs_writes(params: DamonParams, *, paddr_nodes: list[int] | None = None
                 ) -> tuple[list[tuple[str, str]], list[int]]:
    """(ordered writes, number of schemes per kdamond). Refuses (HarnessError naming the
    field) what the harness cannot set up in a guest: memcg filters and goals (the guest has no
    cgroups), probes, sample filters and page-fault sampling."""
    w: list[tuple[str, str]] = []
    nr_schemes: list[int] = []
    w.append(("kdamonds/nr_kdamonds", str(len(params.kdamonds))))
    paddr_order = 0
    for k, kd in enumerate(params.kdamonds):
        kp = f"kdamonds/{k}"
        if not kd.contexts:
            raise HarnessError(f"kdamonds[{k}].contexts: empty; allowed: one context")
        w.append((f"{kp}/contexts/nr_contexts", str(len(kd.contexts))))
        if kd.refresh_ms:
            w.append((f"{kp}/refresh_ms", str(kd.refresh_ms)))
        ctx = kd.contexts[0]
        cp = f"{kp}/contexts/0"
        where = f"kdamonds[{k}].contexts[0]"
        w.append((f"{cp}/operations", ctx.ops))
        if ctx.addr_unit != 1:
            w.append((f"{cp}/addr_unit", str(ctx.addr_unit)))
        iv, attrs = ctx.intervals, ctx.attrs()
        mp = f"{cp}/monitoring_attrs"
        w += [(f"{mp}/intervals/sample_us", str(iv.sample_us)),
              (f"{mp}/intervals/aggr_us", str(iv.aggr_us)),
              (f"{mp}/intervals/update_us", str(iv.ops_update_us))]
        g = iv.intervals_goal
        if g.aggrs:
            gp = f"{mp}/intervals/intervals_goal"
            w += [(f"{gp}/access_bp", str(g.access_bp)), (f"{gp}/aggrs", str(g.aggrs)),
                  (f"{gp}/min_sample_us", str(g.min_sample_us)),
                  (f"{gp}/max_sample_us", str(g.max_sample_us))]
        w += [(f"{mp}/nr_regions/min", str(ctx.nr_regions.min)),
              (f"{mp}/nr_regions/max", str(ctx.nr_regions.max))]
        targets = list(ctx.targets)
        if ctx.ops == "paddr" and not targets:
            from damon_gym.formats.params import TargetParams
            targets = [TargetParams()]
        if ctx.ops != "paddr" and not targets:
            raise HarnessError(f"{where}.targets: a {ctx.ops} context needs a target (the "
                               "guest's workload process)")
        w.append((f"{cp}/targets/nr_targets", str(len(targets))))
        for t, tg in enumerate(targets):
            tp = f"{cp}/targets/{t}"
            if ctx.ops != "paddr":
                w.append((f"{tp}/pid_target", "@PID@"))
            regions = [(str(s), str(e)) for s, e in tg.regions]
            if ctx.ops == "paddr" and not regions:
                node = (paddr_nodes[paddr_order] if paddr_nodes is not None
                        and paddr_order < len(paddr_nodes) else paddr_order)
                regions = [(f"@N{node}_START@", f"@N{node}_END@")]
            if regions:
                w.append((f"{tp}/regions/nr_regions", str(len(regions))))
                for r, (s, e) in enumerate(regions):
                    w += [(f"{tp}/regions/{r}/start", s), (f"{tp}/regions/{r}/end", e)]
        if ctx.ops == "paddr":
            paddr_order += 1
        w.append((f"{cp}/schemes/nr_schemes", str(len(ctx.schemes))))
        for si, sc in enumerate(ctx.schemes):
            w += _scheme(sc, f"{cp}/schemes/{si}", f"{where}.schemes[{si}]", attrs)
        nr_schemes.append(len(ctx.schemes))
    return w, nr_schemes


def _scheme(sc, sp: str, where: str, attrs) -> list[tuple[str, str]]:
    w = [(f"{sp}/action", sc.action)]
    if sc.apply_interval_us:
        w.append((f"{sp}/apply_interval_us", str(sc.apply_interval_us)))
    ap = sc.access_pattern
    nr_lo, nr_hi = ap.nr_accesses_samples(attrs)
    age_lo, age_hi = ap.age_aggr_intervals(attrs)
    w += [(f"{sp}/access_pattern/sz/min", str(ap.sz_bytes.min)),
          (f"{sp}/access_pattern/sz/max", str(min(ap.sz_bytes.max, U64_MAX))),
          (f"{sp}/access_pattern/nr_accesses/min", str(_u32(nr_lo))),
          (f"{sp}/access_pattern/nr_accesses/max", str(_u32(nr_hi))),
          (f"{sp}/access_pattern/age/min", str(_u32(age_lo))),
          (f"{sp}/access_pattern/age/max", str(_u32(age_hi)))]
    q = sc.quotas
    qp = f"{sp}/quotas"
    if q.time_ms or q.sz_bytes or q.goals:
        w += [(f"{qp}/ms", str(q.time_ms)), (f"{qp}/bytes", str(q.sz_bytes))]
        if q.reset_interval_ms < U64_MAX:
            w.append((f"{qp}/reset_interval_ms", str(q.reset_interval_ms)))
        wt = q.weights
        if wt.sz_permil or wt.nr_accesses_permil or wt.age_permil:
            w += [(f"{qp}/weights/sz_permil", str(wt.sz_permil)),
                  (f"{qp}/weights/nr_accesses_permil", str(wt.nr_accesses_permil)),
                  (f"{qp}/weights/age_permil", str(wt.age_permil))]
    if q.fail_charge_num or q.fail_charge_denom:
        w += [(f"{qp}/fail_charge_num", str(q.fail_charge_num)),
              (f"{qp}/fail_charge_denom", str(q.fail_charge_denom))]
    if q.goals:
        if q.goal_tuner != "consist":
            w.append((f"{qp}/goal_tuner", q.goal_tuner))
        w.append((f"{qp}/goals/nr_goals", str(len(q.goals))))
        for i, g in enumerate(q.goals):
            gp = f"{qp}/goals/{i}"
            if g.memcg_path:
                raise HarnessError(f"{where}.quotas.goals[{i}].memcg_path: memory cgroup goals "
                                   "are not set up in the guest (it has no cgroups)")
            w += [(f"{gp}/target_metric", g.metric), (f"{gp}/target_value", str(g.target_value))]
            if g.metric == "user_input":
                w.append((f"{gp}/current_value", str(g.current_value)))
            if g.nid is not None:
                w.append((f"{gp}/nid", str(g.nid)))
    wm = sc.watermarks
    if wm.metric != "none":
        w += [(f"{sp}/watermarks/metric", wm.metric),
              (f"{sp}/watermarks/interval_us", str(wm.interval_us)),
              (f"{sp}/watermarks/high", str(wm.high_permil)),
              (f"{sp}/watermarks/mid", str(wm.mid_permil)),
              (f"{sp}/watermarks/low", str(wm.low_permil))]
    core = [f for f in sc.filters if f.filter_type in CORE_FILTERS]
    ops = [f for f in sc.filters if f.filter_type not in CORE_FILTERS]
    for kind, flist in (("core_filters", core), ("ops_filters", ops)):
        if not flist:
            continue
        w.append((f"{sp}/{kind}/nr_filters", str(len(flist))))
        for i, f in enumerate(flist):
            fp = f"{sp}/{kind}/{i}"
            if f.filter_type == "memcg":
                raise HarnessError(f"{where}.filters: memcg filters are not set up in the guest "
                                   "(it has no cgroups)")
            w.append((f"{fp}/type", f.filter_type))
            if f.filter_type == "addr":
                w += [(f"{fp}/addr_start", str(f.address_range[0])),
                      (f"{fp}/addr_end", str(f.address_range[1]))]
            elif f.filter_type == "target":
                w.append((f"{fp}/damon_target_idx", str(f.damon_target_idx)))
            elif f.filter_type == "hugepage_size":
                w += [(f"{fp}/min", str(f.hugepage_size[0])), (f"{fp}/max", str(f.hugepage_size[1]))]
            w += [(f"{fp}/matching", "Y" if f.matching else "N"),
                  (f"{fp}/allow", "Y" if f.allow else "N")]
    if sc.target_nid is not None:
        w.append((f"{sp}/target_nid", str(sc.target_nid)))
    if sc.dests:
        w.append((f"{sp}/dests/nr_dests", str(len(sc.dests))))
        for i, (nid, weight) in enumerate(sc.dests):
            w += [(f"{sp}/dests/{i}/id", str(nid)), (f"{sp}/dests/{i}/weight", str(weight))]
    if sc.max_nr_snapshots:
        w.append((f"{sp}/stats/max_nr_snapshots", str(sc.max_nr_snapshots)))
    return w


def format_writes(writes: list[tuple[str, str]]) -> str:
    """The file the guest init reads: one ``path value`` per line (paths have no spaces)."""
    for p, v in writes:
        if any(c.isspace() for c in p + v) or not v:
            raise HarnessError(f"sysfs write {p!r} <- {v!r}: paths and values must be one "
                               "non-empty word")
    return "".join(f"{p} {v}\n" for p, v in writes)
