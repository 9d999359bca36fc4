"""``Simulation``: one simulated machine, one workload and its kdamonds, stepped in time.

This is the one object a user holds::

    sim = Simulation.from_config("default", seed=0)
    sim.run(5.0)                 # seconds of simulated time
    sim.snapshot()               # regions per context and target
    sim.stats()                  # per-node memory, migration counters, per-scheme stats
    sim.commit(params)           # online update of DAMON parameters (damon_commit_ctx)

The loop advances every context to the earliest next point where memory can change (a workload
phase change, a process starting or exiting, or any context's scheme application: see
``Context.next_sync_us``); each context first samples everything before that point, then, in
order, its chunk ending there and its event, so contexts that act on memory see each other's
migrations at the granularity the kernel's loops would.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.build import (
    allocation_policy,
    background_of,
    build_workload,
    check_fits,
    default_damon_params,
    scenario_topology,
    scenario_unmovable,
)
from damon_gym.caches import bounded_put
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import make_ops
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.quota import KernelRules
from damon_gym.damos.scheme import Scheme, scheme_from_params
from damon_gym.errors import DamonGymWarning
from damon_gym.formats.params import ContextParams, DamonParams, load_damon_params
from damon_gym.memory.system import MemorySystem
from damon_gym.online import ContextBinding, OnlineChanges, damos_engine
from damon_gym.perf.hotness import HotnessCurve, LazyHotnessCurve
from damon_gym.perf.performance import PerformanceModel, PerfStep
from damon_gym.scenario import Scenario, ScenarioError, load_scenario
from damon_gym.sim_views import SimulationViews

US = 1_000_000
#: the most simulated time one ``run()`` may advance (a day): beyond, a typo, not a plan
MAX_RUN_S = 86_400.0


# hotness curves by a digest of the page rates (and their count and the page size), shared by
# every simulation of the process; the curve is a function of the rates alone
_HOTNESS: dict[tuple, HotnessCurve] = {}
# the key of each curve met, by the same digest of the rates, long after the curve itself is
# evicted (a curve holds a point per page; its key is a few bytes): a training run meets its
# suite's episodes again and again, and their phases' X* are cached by the curves' keys
_CURVE_KEYS: dict[tuple, object] = {}


def _frozen(curve: HotnessCurve) -> HotnessCurve:
    """The curve with its points read-only: caches share it from now on."""
    curve.cum_bytes.flags.writeable = False
    curve.cum_share.flags.writeable = False
    return curve


def _frozen_curve(rates: np.ndarray, page_size: int) -> HotnessCurve:
    return _frozen(HotnessCurve.from_rates(rates, page_size))


class Simulation(OnlineChanges, SimulationViews):
    """A scenario brought to life: memory system + workload + DAMON contexts."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *,
                 damon_params: DamonParams | dict | None = None) -> None:
        if scenario.is_randomized or (seed is not None and int(seed) != scenario.seed):
            # the episode's concrete scenario: ranges drawn and workload seeded from ``seed``
            scenario = scenario.resolved(None if seed is None else int(seed))
        self.scenario = scenario
        self.seed = scenario.seed
        self.rng = np.random.default_rng(self.seed)
        topology = scenario_topology(scenario)
        self.topology = topology
        #: real bytes per simulated byte (1 / capacity_scale): the scale rule's one factor
        self.byte_scale = 1.0 / scenario.capacity_scale
        self.workload = build_workload(scenario)
        # refused before anything big is allocated: a workload larger than the machine, or a
        # simulation larger than the memory limit
        unmovable = scenario_unmovable(scenario, topology)
        check_fits(self.workload, topology, scenario.page_size, self.byte_scale, unmovable)
        self.memory = MemorySystem(topology, page_size=scenario.page_size,
                                   unmovable_bytes=unmovable)
        self.now_us = 0
        self._proc_of_spec: dict[int, int] = {}  # workload process index -> memory proc index
        self._change_times = [int(round(t * US)) for t in self.workload.change_times()]
        self._next_change = 0
        if damon_params is None:
            damon_params = self._scenario_damon_params()
        elif isinstance(damon_params, dict):  # damo's JSON layout, as `damo args damon` writes
            damon_params = load_damon_params(damon_params)
        self.params = damon_params
        self.background = background_of(scenario)
        self.perf = PerformanceModel(topology, u_target=self.workload.u_target,
                                     write_fraction=self.workload.write_fraction,
                                     background=self.background)
        self._hotness: HotnessCurve | None = None
        self._hotness_last: tuple | None = None  # (sorted rates, sum, page size), curve
        # the regions of each context's last aggregation (keep_aggregations)
        self._aggregated: dict[int, list[dict]] | None = None
        self._aggregated_at: dict[int, float] = {}
        self._workload_epoch = 0
        self._last_perf_us = 0
        self._kdamond_ns_mark = 0
        self.last_perf: PerfStep | None = None
        self.bindings: list[ContextBinding] = []
        self._build_contexts(damon_params)
        self._apply_workload_changes()
        for b in self.bindings:
            b.context.start(self.now_us)

    @classmethod
    def from_config(cls, path_or_name: str | Path | dict, seed: int | None = None,
                    **overrides: Any) -> Simulation:
        return cls(load_scenario(path_or_name, **overrides), seed)

    # -- construction -------------------------------------------------------------------------
    def _scenario_damon_params(self) -> DamonParams:
        d = self.scenario.damon
        if d is None:
            return default_damon_params()
        if isinstance(d, str):
            return load_damon_params(self.scenario.resolve(d))
        return load_damon_params(d)

    def _build_contexts(self, params: DamonParams) -> None:
        paddr_seen = 0
        for ki, kd in enumerate(params.kdamonds):
            for ci, cp in enumerate(kd.contexts):
                ctx = Context(make_ops(cp.ops, self.memory), cp.attrs(),
                              rng=np.random.default_rng([self.seed, ki, ci]),
                              sampler=self.scenario.sampler, name=f"kdamond{ki}.ctx{ci}")
                b = ContextBinding(ki, ci, cp.ops, ctx)
                ctx.schemes = DamosEngine(self.memory, self._schemes_of(cp, ki, ci),
                                          byte_scale=self.byte_scale,
                                          kernel=KernelRules.of(self.scenario.kernel))
                if cp.ops == "paddr":
                    self._bind_paddr(b, cp, paddr_seen)
                    paddr_seen += 1
                else:
                    self._bind_vaddr(b, cp)
                self.bindings.append(b)

    def _schemes_of(self, cp: ContextParams, ki: int, ci: int) -> list[Scheme]:
        out = []
        for si, sp in enumerate(cp.schemes):
            try:
                out.append(scheme_from_params(sp, cp.attrs(), paddr_dests=self.scenario.paddr_dests,
                                              rfc_goal_metrics=self.scenario.rfc_goal_metrics,
                                              capacity_scale=self.scenario.capacity_scale))
            except ValueError as e:
                raise ValueError(f"kdamonds[{ki}].contexts[{ci}].schemes[{si}]: {e}") from None
            self._warn_useless(out[-1], cp.ops, f"kdamonds[{ki}].contexts[{ci}].schemes[{si}]")
        return out

    def _warn_useless(self, s: Scheme, ops: str, where: str) -> None:
        """What the kernel accepts but cannot act on runs as the kernel runs it, with a warning
        on stderr naming the field: a destination node that does not exist, or paddr dests
        without target_nid (paddr migrates to target_nid only)."""
        import warnings

        if not s.action.startswith("migrate_"):
            return
        n = self.topology.nr_nodes
        bad = [i for i, (node, _) in enumerate(s.dests) if not 0 <= node < n]
        for i in bad:
            warnings.warn(f"{where}.dests[{i}]: node {s.dests[i][0]} does not exist (nodes "
                          f"0..{n - 1}); the kernel accepts it and moves nothing there",
                          DamonGymWarning, stacklevel=3)
        if not s.dests and not 0 <= s.target_nid < n:
            warnings.warn(f"{where}.target_nid: node {s.target_nid} does not exist (nodes "
                          f"0..{n - 1}); the kernel accepts it and the scheme migrates nothing",
                          DamonGymWarning, stacklevel=3)
        if ops == "paddr" and s.dests and s.paddr_dests == "kernel" and not 0 <= s.target_nid < n:
            warnings.warn(f"{where}.dests: paddr migration uses target_nid only (the kernel "
                          "ignores dests) and target_nid is not set: the scheme migrates "
                          "nothing", DamonGymWarning, stacklevel=3)

    def _bind_paddr(self, b: ContextBinding, cp: ContextParams, order: int) -> None:
        mem = self.memory
        phys_end = mem.nr_frames * mem.page_size
        ranges: list[tuple[int, int]] = []
        for t in cp.targets:
            rs = [(int(s), int(e)) for s, e in t.regions]
            if self.scenario.paddr_nodes is not None:
                if order >= len(self.scenario.paddr_nodes):
                    raise ScenarioError(f"paddr_nodes: no node given for paddr context {order}")
                node = self.scenario.paddr_nodes[order]
                rs = [mem.node_phys_range(node)]
                b.notes.append(f"paddr regions set to node {node} (paddr_nodes)")
            elif not rs or any(e > phys_end for _, e in rs):
                nid = order if order < self.topology.nr_nodes else None
                rs = [mem.node_phys_range(nid)] if nid is not None else [(0, phys_end)]
                b.notes.append(
                    "paddr ranges of another machine mapped onto "
                    + (f"simulated node {nid}" if nid is not None else "all simulated memory"))
            ranges = rs
            tgt = Target(pid=None)
            tgt.regions.set_ranges(sorted(ranges))
            b.context.targets.append(tgt)

    def _bind_vaddr(self, b: ContextBinding, cp: ContextParams) -> None:
        pids = [p.pid for p in self.workload.processes]
        claimed = {t.pid for t in cp.targets if t.pid in pids}
        free = [p for p in pids if p not in claimed]
        if not cp.targets:
            b.follow_all_processes = True
            b.notes.append("no targets given: every workload process is monitored")
        for t in cp.targets:
            pid = t.pid
            if pid not in pids:
                if not free:
                    raise ScenarioError(
                        f"vaddr target pid {pid} matches no workload process (pids: {pids})")
                b.notes.append(f"target pid {pid} bound to workload pid {free[0]}")
                pid = free.pop(0)
            tgt = Target(pid=pid)
            if t.regions:
                tgt.regions.set_ranges(sorted((int(s), int(e)) for s, e in t.regions))
            b.context.targets.append(tgt)

    # -- workload over time -------------------------------------------------------------------
    def _apply_workload_changes(self) -> None:
        """Start/exit processes and rewrite access rates for the workload's state at now."""
        t_s = self.now_us / US
        wl = self.workload
        mem = self.memory
        for i, ps in enumerate(wl.processes):
            started = ps.start_s <= t_s + 1e-12
            exited = ps.exit_s is not None and ps.exit_s <= t_s + 1e-12
            if started and not exited and i not in self._proc_of_spec:
                idx = mem.add_process(ps.pid, ps.vma_ranges(mem.page_size))
                self._proc_of_spec[i] = idx
                pages = wl.populate_pages(i, mem.page_size)
                if pages.size:
                    mem.allocate(idx, pages, allocation_policy(ps.mempolicy, self.topology))
                for b in self.bindings:
                    for tgt in b.context.targets:
                        if tgt.pid == ps.pid and tgt.proc_idx is None:
                            tgt.proc_idx = idx
                            if b.context.started:
                                b.context.ops.init_target(b.context, tgt)
                    if b.follow_all_processes and not any(t.pid == ps.pid for t in b.context.targets):
                        b.context.add_target(Target(pid=ps.pid, proc_idx=idx))
            elif exited and i in self._proc_of_spec and mem.procs[self._proc_of_spec[i]].alive:
                mem.remove_process(self._proc_of_spec[i])
        for i, idx in self._proc_of_spec.items():
            pm = mem.procs[idx]
            if not pm.alive:
                continue
            rates = wl.rates_at(t_s, i, mem.page_size)
            touch = np.flatnonzero((rates > 0) & (pm.vpage_frame < 0))  # first touch
            if touch.size:
                mem.allocate(idx, touch, allocation_policy(wl.processes[i].mempolicy, self.topology))
            mem.set_rates(idx, rates)
        self._hotness = None
        self._workload_epoch += 1
        while (self._next_change < len(self._change_times)
               and self._change_times[self._next_change] <= self.now_us):
            self._next_change += 1

    def _next_change_us(self) -> int:
        if self._next_change < len(self._change_times):
            return self._change_times[self._next_change]
        return 2**62

    # -- the public API -------------------------------------------------------------------------
    def run(self, seconds: float) -> None:
        """Advance simulated time by ``seconds`` (finite, at most ``MAX_RUN_S`` at once)."""
        if not 0 <= seconds <= MAX_RUN_S:
            raise ValueError(f"seconds: {seconds!r}; allowed: 0 .. {MAX_RUN_S:g} simulated "
                             "seconds per call")
        end = self.now_us + int(round(seconds * US))
        while self.now_us < end:
            if self.now_us >= self._next_change_us():
                # a change due at the end of the previous run() applies now, so that a
                # perf_step() between the two still sees the state the last interval ran in
                self._apply_workload_changes()
            live = [b.context for b in self.bindings if not b.context.stopped]
            t_next = max(min([end, self._next_change_us()] + [c.next_sync_us() for c in live]),
                         self.now_us + 1)
            if len(live) > 1:  # memory cannot change before t_next: every context samples up
                for ctx in live:  # to it first, then in order the chunk ending there + event
                    ctx.run_until(t_next - 1, events_only=True)
            for ctx in live:
                ctx.run_until(t_next)
            self.now_us = t_next

    def hotness(self) -> HotnessCurve:
        """H(c) of the workload's current phase (rebuilt only when rates or processes change)."""
        if self._hotness is None:
            # keyed by a digest of the curve: phases with the same hotness share one X* solve.
            # The curve depends only on the sorted rates, their sum and the page size, so a
            # phase that permutes the rates (a reshuffled ranking) reuses the previous one.
            mem = self.memory
            parts = [p.vpage_rate[p.vpage_frame >= 0] for p in mem.procs if p.alive]
            rates = np.concatenate(parts) if parts else np.zeros(1)
            # process-wide by the rates exactly as they lie (a digest is cheaper than the
            # sort): every episode of a scenario meets the same phases again
            key = (hashlib.sha1(rates.data).digest(), rates.shape[0], mem.page_size)
            curve = _HOTNESS.get(key)
            known = _CURVE_KEYS.get(key) if curve is None else None
            if known is not None:
                # met before, its curve since evicted: the curve's key is enough for the X*
                # caches; the points are built only if a solve needs them
                curve = LazyHotnessCurve(known, partial(_frozen_curve, rates, mem.page_size))
                bounded_put(_HOTNESS, key, curve, 256)
            elif curve is None:
                fp, last = (np.sort(rates), float(rates.sum()), mem.page_size), self._hotness_last
                if last is None or last[0][1:] != fp[1:] or not np.array_equal(last[0][0], fp[0]):
                    last = self._hotness_last = (fp, HotnessCurve.from_rates(
                        rates, mem.page_size, ascending=fp[0]))
                curve = _frozen(last[1])
                bounded_put(_HOTNESS, key, curve, 256)
                bounded_put(_CURVE_KEYS, key, curve.key, 1 << 16)
            self._hotness = curve
        return self._hotness

    def perf_step(self) -> PerfStep:
        """The performance model over the time since the previous call (or the start): X, X*,
        per-node shares, utilisation, latencies, migration traffic (perf.performance), for
        the placement at the end of the interval and the intensity, write fraction and
        background at its middle (``PerfStep.t_s``)."""
        dt_s = (self.now_us - self._last_perf_us) / US
        if dt_s <= 0:
            raise ValueError("perf_step: no simulated time passed since the previous step")
        # the workload's intensity and write fraction and the background level of the
        # interval just simulated: looked up at its middle (at its end a phase or background
        # step that starts there would already count)
        t_s = (self.now_us - (self.now_us - self._last_perf_us) / 2) / US
        # churn and kdamond time in the real machine's bytes and seconds (the scale rule)
        kd_ns = self.kdamond_ns()
        res = self.perf.step(self.memory.node_rate_sums(), t_s=t_s, dt_s=dt_s,
                             churn=self.memory.take_churn(self.byte_scale),
                             hotness=self.hotness(),
                             write_fraction=self.workload.write_fraction_at(t_s),
                             u_target=self.workload.u_target_at(t_s),
                             kdamond_cpu_s=(kd_ns - self._kdamond_ns_mark) * 1e-9)
        self._kdamond_ns_mark = kd_ns
        self._last_perf_us = self.now_us
        self.last_perf = res
        return res

    def kdamond_ns(self) -> int:
        """kdamond time spent applying schemes since the start, on the real machine (what
        DAMOS charges the schemes' quotas, kept by each context's engine even when an online
        commit removes a scheme; the performance model charges it as CPU)."""
        return sum(damos_engine(b.context).kdamond_ns for b in self.bindings)

    def step(self, seconds: float) -> PerfStep:
        """``run(seconds)`` and then ``perf_step()``: one environment step of the simulation."""
        self.run(seconds)
        return self.perf_step()

    def real_bytes(self, sim_bytes: int | float) -> int:
        """Bytes of the simulated machine as the real machine's bytes (the scale rule)."""
        k = self.byte_scale
        return int(sim_bytes) if k == 1.0 else int(round(float(sim_bytes) * k))

    @property
    def contexts(self) -> list[Context]:
        return [b.context for b in self.bindings]
