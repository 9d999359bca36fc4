"""``damon-gym fidelity``: the simulator against real-kernel runs of the same scenario.

Both sides become the same per-run *timeline* (region snapshots of the contexts that have a
stat scheme covering every region, per-scheme stats, the workload's hot and cold pages per
node, the true hot range), and one set of functions computes every metric from a timeline:

==================  ============================================================================
metric              definition (per run; the report shows the distribution over runs)
==================  ============================================================================
regions             median number of regions of the monitored context over the snapshots
                    from 2 s on (the first second is still splitting up from min_nr_regions)
wss_p50             damo's working set size (``damo report wss``: bytes of the regions with
                    nr_accesses >= 1), 50th percentile over the snapshots
hot_boundary_err    pages between DAMON's hot range and the true one (start and end errors
                    added), median over the snapshots from 5 s on; DAMON's hot range is the run
                    of adjacent regions around the hottest region overlapping the true range
                    whose nr_accesses is >= half of its (:func:`hot_estimate`; vaddr only:
                    physical hot pages are not one range)
hot_nr_accesses     size-weighted nr_accesses of the estimated hot range, median over the
                    snapshots from 2 s on
target_bytes        bytes the monitored context covers (sum of its regions), median from 2 s on
applies             scheme applies in the run: the first (stat) scheme's sz_tried divided by
                    target_bytes (it tries every byte once per apply; 6.12 has no nr_snapshots)
tried_per_apply     that scheme's nr_tried / applies: the regions a scheme sees per apply
<scheme>.<stat>     nr_tried, sz_tried, nr_applied, sz_applied of each scheme at the end
hot_on_n<k>,        the workload's hot / cold pages on node k at the end (from the start's
cold_on_n<k>        placement: all on the bound node, so a count elsewhere is what moved)
hot_on_n0_1s        hot pages on node 0 at the first page count 1 s or more after DAMON started
                    (how fast promotion starts: a quota goal's first window)
t_found_s           first snapshot whose estimated hot range overlaps >= 90 % of the true one
                    and is at most 1.5 times its size (vaddr only); "never" (inf) when no
                    snapshot of the run does, which only another "never" matches
t_migrated_s        first time >= 90 % of the hot pages meant for node 0 (all of them for
                    target_nid 0, the node's dests share otherwise) are on node 0; "never"
                    likewise
==================  ============================================================================

Pass/fail: ``|median(sim) - median(real)| <= max(abs_tol, rel_tol * |median(real)|,
spread(real))`` where spread is max - min of the real runs. The kernel's own run-to-run
spread is the floor: the simulator cannot be asked to agree with a kernel more closely than
that kernel agrees with itself. The per-metric ``abs_tol``/``rel_tol`` (``verdict.TOLERANCES``)
say why they are what they are (``fidelity.verdict``).

The simulator side of a kernel follows that kernel's DAMOS quota rules (the scenario field
``kernel``, damos.quota.KernelRules: 6.17's unthrottled first window, 7.2's full sub-page
quota), so a scenario with a quota runs once per distinct rule set among the kernels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.fidelity import HarnessError
from damon_gym.fidelity.verdict import _stats, judge

PAGE = 4096


# ------------------------------------------------------------------ timelines

def real_timeline(run: dict, snap_kds: list[int]) -> dict:
    """A timeline from a kernel-run ``run<i>.json``."""
    snaps: dict[int, list] = {k: [] for k in snap_kds}
    stat_scheme = {k: 0 for k in snap_kds}
    for s in run["snapshots"]:
        if s["kd"] in snaps and s["scheme"] == stat_scheme[s["kd"]] and "t" in s:
            snaps[s["kd"]].append((s["t"], np.array(s["regions"], dtype=np.int64).reshape(-1, 4)))
    stats_end: dict[str, dict] = {}
    actions: dict[str, str] = {}
    for st in run["stats"]:
        key = f"kd{st['kd']}.s{st['scheme']}"
        stats_end[key] = {k: st.get(k, 0) for k in ("nr_tried", "sz_tried", "nr_applied",
                                                   "sz_applied")}
        actions[key] = st["action"]
    pages: list[tuple[float, dict, dict]] = []
    by_up: dict[float, dict] = {}
    for p in run["pages"]:
        if "t" not in p:
            continue
        d = by_up.setdefault(p["t"], {"hot": {}, "cold": {}})
        side = "hot" if p["region"] == "hot" else "cold"
        for n, c in p["nodes"].items():
            d[side][int(n)] = d[side].get(int(n), 0) + c
    for t in sorted(by_up):
        pages.append((t, by_up[t]["hot"], by_up[t]["cold"]))
    hot = run["regions"].get("hot")
    return {"snaps": snaps, "stats_end": stats_end, "actions": actions, "pages": pages,
            "hot_range": tuple(hot) if hot else None}


def sim_timeline(scenario, seed: int, times: list[float], snap_kds: list[int]) -> dict:
    """The simulator run with ``seed``, observed at ``times`` (seconds)."""
    from damon_gym.simulation import Simulation

    sim = Simulation(scenario, seed=seed)
    pl = sim.placement()
    page_size = pl["page_size"]
    data = max(pl["vmas"], key=lambda v: v["end"] - v["start"])  # the workload's buffer
    npg = (data["end"] - data["start"]) // page_size
    hot_mask = data["rate"][:npg] > 0
    idx = np.flatnonzero(hot_mask)
    hot_range = None
    if idx.size:
        hot_range = (int(data["start"] + idx[0] * page_size),
                     int(data["start"] + (idx[-1] + 1) * page_size))
    snaps: dict[int, list] = {k: [] for k in snap_kds}
    pages = []
    # the regions as a scheme sees them: at the aggregation (merged, not yet split for the
    # next window), where the kernel's tried_regions are taken -- not the split state
    # Simulation.snapshot() shows between aggregations
    sim.keep_aggregations()

    def last() -> dict[int, np.ndarray]:
        out = {}
        for sn in sim.snapshot(aggregated=True):
            if sn["kdamond_idx"] in snaps and sn["target_idx"] == 0:
                out[sn["kdamond_idx"]] = np.stack(
                    [sn["start"], sn["end"], sn["nr_accesses"], sn["age"]], axis=1
                ).astype(np.int64)
        return out

    def count() -> tuple[dict, dict]:
        vma = max(sim.placement(pl["pid"])["vmas"], key=lambda v: v["end"] - v["start"])
        nodes = vma["node"][:npg]
        h = np.bincount(nodes[hot_mask & (nodes >= 0)], minlength=sim.topology.nr_nodes)
        c = np.bincount(nodes[~hot_mask & (nodes >= 0)], minlength=sim.topology.nr_nodes)
        return ({i: int(v) for i, v in enumerate(h) if v},
                {i: int(v) for i, v in enumerate(c) if v})

    pages.append((0.0, *count()))
    now = 0.0
    for t in times:
        if t > now:
            sim.run(t - now)
            now = t
        agg = last()
        for k in snaps:
            if k in agg:
                snaps[k].append((t, agg[k]))
        pages.append((t, *count()))
    st = sim.stats()
    stats_end, actions = {}, {}
    for c in st["contexts"]:
        for s, sc in enumerate(c["schemes"]):
            key = f"kd{c['kdamond_idx']}.s{s}"
            stats_end[key] = {k: int(sc[k]) for k in ("nr_tried", "sz_tried", "nr_applied",
                                                      "sz_applied")}
            actions[key] = sc["action"]
    return {"snaps": snaps, "stats_end": stats_end, "actions": actions, "pages": pages,
            "hot_range": hot_range}


# ------------------------------------------------------------------ metrics

def hot_estimate(regs: np.ndarray, true: tuple[int, int] | None = None
                 ) -> tuple[int, int, float] | None:
    """(start, end, size-weighted nr_accesses) of DAMON's view of the hot block: from the
    region with the highest nr_accesses among those overlapping the true hot range (all
    regions when it is not known), extended over adjacent regions whose nr_accesses is >= half
    of it. Tiny regions elsewhere (the runner's stack and globals are hot too) do not count.
    None when nothing there was accessed."""
    if not len(regs):
        return None
    cand = np.arange(len(regs))
    if true is not None:
        cand = np.flatnonzero((regs[:, 1] > true[0]) & (regs[:, 0] < true[1]))
        if not cand.size:
            return None
    i = int(cand[np.argmax(regs[cand, 2])])
    if regs[i, 2] <= 0:
        return None
    thr = regs[i, 2] / 2.0
    lo = hi = i
    while lo > 0 and regs[lo - 1, 2] >= thr and regs[lo - 1, 1] == regs[lo, 0]:
        lo -= 1
    while hi + 1 < len(regs) and regs[hi + 1, 2] >= thr and regs[hi + 1, 0] == regs[hi, 1]:
        hi += 1
    part = regs[lo:hi + 1]
    sizes = (part[:, 1] - part[:, 0]).astype(float)
    return int(part[0, 0]), int(part[-1, 1]), float((part[:, 2] * sizes).sum() / sizes.sum())


def _found(est, true) -> bool:
    if est is None or true is None:
        return False
    ov = max(0, min(est[1], true[1]) - max(est[0], true[0]))
    size = true[1] - true[0]
    return ov >= 0.9 * size and (est[1] - est[0]) <= 1.5 * size


def timeline_metrics(tl: dict, *, vaddr: bool, node0_share: float | None) -> dict[str, float]:
    """Every metric of one run (see the module docstring); NaN where it does not apply."""
    m: dict[str, float] = {}
    kd = min(tl["snaps"]) if tl["snaps"] else None
    snaps = tl["snaps"].get(kd, []) if kd is not None else []
    late = [(t, r) for t, r in snaps if t >= 2.0 - 1e-6] or snaps
    nan = float("nan")
    m["regions"] = float(np.median([len(r) for _, r in late])) if late else nan
    wss = [float(((r[:, 1] - r[:, 0])[r[:, 2] >= 1]).sum()) for _, r in snaps]
    m["wss_p50"] = float(np.percentile(wss, 50)) if wss else nan
    true = tl["hot_range"]
    if vaddr and snaps and true:
        errs = [(abs(e[0] - true[0]) + abs(e[1] - true[1])) / PAGE
                for e in (hot_estimate(r, true) for t, r in snaps if t >= 5.0 - 1e-6) if e]
        m["hot_boundary_err"] = float(np.median(errs)) if errs else nan
        found = [t for t, r in snaps if _found(hot_estimate(r, true), true)]
        m["t_found_s"] = found[0] if found else math.inf   # never within the run
    else:
        m["hot_boundary_err"] = m["t_found_s"] = nan
    accs = [e[2] for e in (hot_estimate(r, true if vaddr else None) for _, r in late)
            if e is not None]
    m["hot_nr_accesses"] = float(np.median(accs)) if accs else nan
    tb = [float((r[:, 1] - r[:, 0]).sum()) for _, r in late]
    m["target_bytes"] = float(np.median(tb)) if tb else nan
    stat_key = f"kd{kd}.s0" if kd is not None else None
    st0 = tl["stats_end"].get(stat_key) if stat_key else None
    if st0 and tb and tl["actions"].get(stat_key) == "stat" and np.median(tb) > 0:
        # the stat scheme matches every region, so each apply tries all the target's bytes
        m["applies"] = st0["sz_tried"] / float(np.median(tb))
        m["tried_per_apply"] = st0["nr_tried"] / m["applies"] if m["applies"] else nan
    else:
        m["applies"] = m["tried_per_apply"] = nan
    for key, st in sorted(tl["stats_end"].items()):
        name = f"{key}:{tl['actions'].get(key, '?')}"
        for k, v in st.items():
            m[f"{name}.{k}"] = float(v)
    if tl["pages"]:
        t_end, hot, cold = tl["pages"][-1]
        nodes = sorted(set(hot) | set(cold) | {0, 1})
        for n in nodes:
            m[f"hot_on_n{n}"] = float(hot.get(n, 0))
            m[f"cold_on_n{n}"] = float(cold.get(n, 0))
        # the first second: how fast migration starts (a quota goal's first window)
        first = next(((t, h) for t, h, _ in tl["pages"] if t >= 1.0 - 1e-6), None)
        m["hot_on_n0_1s"] = float(first[1].get(0, 0)) if first and t_end >= 1.0 else nan
        m["t_migrated_s"] = nan
        if node0_share:
            m["t_migrated_s"] = math.inf   # never within the run, unless found below
            total = sum(tl["pages"][0][1].values()) or sum(hot.values())
            want = 0.9 * node0_share * total
            for t, h, _ in tl["pages"]:
                if total and h.get(0, 0) >= want:
                    m["t_migrated_s"] = t
                    break
    return m


# ------------------------------------------------------------------ the comparison

def _scenario_facts(scenario) -> tuple[bool, float | None, list[int]]:
    """(vaddr?, node 0's share of the migrated hot pages or None, kdamonds with a stat
    scheme as their first scheme: the ones whose snapshots show every region)."""
    from damon_gym.fidelity.harness import scenario_params

    params = scenario_params(scenario)
    ctxs = [k.contexts[0] for k in params.kdamonds]
    vaddr = all(c.ops != "paddr" for c in ctxs)
    share = None
    for c in ctxs:
        for s in c.schemes:
            if s.action == "migrate_hot":
                if s.dests:
                    tot = sum(w for _, w in s.dests)
                    share = sum(w for n, w in s.dests if n == 0) / tot if tot else None
                elif s.target_nid == 0:
                    share = 1.0
    kds = [i for i, c in enumerate(ctxs) if c.schemes and c.schemes[0].action == "stat"]
    return vaddr, share, kds


def load_real(folder: Path) -> dict:
    folder = Path(folder)
    summ = folder / "kernel_run.json"
    if not summ.is_file():
        raise HarnessError(f"--real {folder}: no kernel_run.json (not a kernel-run output folder)")
    try:
        meta = json.loads(summ.read_text())
        runs = [json.loads((folder / f"run{r['run']}.json").read_text()) for r in meta["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"--real {folder}: cannot read the runs: {e}") from None
    return {"meta": meta, "runs": runs, "folder": str(folder)}


def _uses_quotas(scenario) -> bool:
    """Whether a scheme of the scenario has a quota the kernel rules act on (ms, sz, goals)."""
    from damon_gym.fidelity.harness import scenario_params

    return any(s.quotas.time_ms or s.quotas.sz_bytes or s.quotas.goals
               for k in scenario_params(scenario).kdamonds for c in k.contexts
               for s in c.schemes)


def sim_kernel(meta: dict, scenario) -> str | None:
    """The ``kernel`` the simulator follows for a real kernel's runs: the MAJOR.MINOR of the
    kernel they ran (``kernel_run.json``'s ``kernel``, e.g. 6.17.13+deb13-amd64 -> 6.17) when
    the simulator knows its quota rules (damos.quota.KERNELS), else the scenario's own."""
    from damon_gym.damos.quota import kernel_series

    return (kernel_series(meta.get("kernel") or meta.get("kernel_package"))
            or scenario.kernel)


def compare(real_dirs: list[Path], scenario_name: str, runs: int) -> dict:
    """Each real kernel's runs against ``runs`` simulator runs that follow that kernel's DAMOS
    quota rules (:func:`sim_kernel`); kernels whose rules do not differ for the scenario (no
    quota, or the same ``KernelRules``) share the simulator runs."""
    from damon_gym.damos.quota import KernelRules
    from damon_gym.scenario import load_scenario

    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 50:
        raise HarnessError(f"runs: got {runs!r}; allowed: an int in [1, 50]")
    sc = load_scenario(scenario_name)
    vaddr, share, kds = _scenario_facts(sc)
    reals = [load_real(d) for d in real_dirs]
    for r in reals:
        if r["meta"].get("scenario") != sc.name:
            raise HarnessError(f"--real {r['folder']}: ran scenario {r['meta'].get('scenario')!r}"
                               f", not {sc.name!r}")
    snap = int(reals[0]["meta"].get("snap_s", 1))
    dur = sc.duration_us / 1e6
    times = [float(t) for t in np.arange(snap, dur + 1e-9, snap)]
    quotas = _uses_quotas(sc)
    # KernelRules -> (the kernels simulated with them, timelines, metrics)
    sims: dict[KernelRules, tuple[list[str | None], list[dict], list[dict]]] = {}

    def simulated(kernel: str | None) -> tuple[list[dict], list[dict]]:
        if not quotas:  # nothing for the rules to act on: one simulation for every kernel
            kernel = sc.kernel
        key = KernelRules.of(kernel)
        if key not in sims:
            scn = sc if kernel == sc.kernel else sc.model_copy(update={"kernel": kernel})
            tls = [sim_timeline(scn, seed, times, kds) for seed in range(runs)]
            sims[key] = ([], tls, [timeline_metrics(t, vaddr=vaddr, node0_share=share)
                                   for t in tls])
        if kernel not in sims[key][0]:
            sims[key][0].append(kernel)
        return sims[key][1], sims[key][2]

    out: dict[str, Any] = {"scenario": sc.name, "content_hash": sc.content_hash(),
                           "sim_runs": runs, "kernels": []}
    for r in reals:
        sim_k = sim_kernel(r["meta"], sc) if quotas else sc.kernel
        sim_tls, sim_ms = simulated(sim_k)
        ok = [x for x in r["runs"] if not x.get("refused") and x.get("t_on_up") is not None]
        real_tls = [real_timeline(x, kds) for x in ok]
        real_ms = [timeline_metrics(t, vaddr=vaddr, node0_share=share) for t in real_tls]
        names = list(dict.fromkeys([k for m in sim_ms + real_ms for k in m]))
        rows = []
        for name in names:
            rs = _stats([m.get(name, float("nan")) for m in real_ms])
            ss = _stats([m.get(name, float("nan")) for m in sim_ms])
            rows.append({"metric": name, "real": rs, "sim": ss, **judge(name, rs, ss)})
        refused = next((x["refused"] for x in r["runs"] if x.get("refused")), None)
        out["kernels"].append({
            "kernel": r["meta"].get("kernel") or r["meta"].get("kernel_package"),
            "series": r["meta"].get("series"), "folder": r["folder"],
            "command": r["meta"].get("command"), "real_runs": len(ok), "refused": refused,
            "host_load_1min": [x.get("host_load_1min") for x in r["meta"]["runs"]],
            "sim_kernel": sim_k, "rows": rows, "series_real": [_series(t) for t in real_tls],
            "series_sim": [_series(t) for t in sim_tls]})
    # the simulator's curves once per rule set it ran with (for the plot), with the kernels
    # whose rules they followed (None: the simulator's own)
    out["series_sim"] = [{"kernels": ks, "series": [_series(t) for t in tls]}
                         for ks, tls, _ in sims.values()]
    return out


def _series(tl: dict) -> dict:
    kd = min(tl["snaps"]) if tl["snaps"] else None
    snaps = tl["snaps"].get(kd, []) if kd is not None else []
    return {"t": [t for t, _ in snaps], "regions": [len(r) for _, r in snaps],
            "wss": [int(((r[:, 1] - r[:, 0])[r[:, 2] >= 1]).sum()) for _, r in snaps],
            "pages_t": [t for t, _, _ in tl["pages"]],
            "hot_n0": [h.get(0, 0) for _, h, _ in tl["pages"]],
            "cold_n0": [c.get(0, 0) for _, _, c in tl["pages"]]}
