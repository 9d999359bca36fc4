"""Online changes to a running Simulation's DAMON parameters, as damon_commit_ctx makes them
[DS 7], and the export of the running parameters to damo's format.

``Simulation`` mixes this in; it needs ``bindings``, ``params``, ``topology`` and
``_schemes_of`` from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from damon_gym.damon.core import Context
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.scheme import Scheme
from damon_gym.formats.params import ContextParams, DamonParams, load_damon_params

if TYPE_CHECKING:
    from damon_gym.memory.topology import Topology


@dataclass
class ContextBinding:
    """Where one DAMON context of the parameters sits in the simulation (``Simulation`` keeps
    one per context in ``bindings``)."""

    kdamond_idx: int
    context_idx: int
    ops: str
    context: Context
    follow_all_processes: bool = False
    notes: list[str] = field(default_factory=list)


def damos_engine(ctx: Context) -> DamosEngine:
    """The DAMOS engine of a context (``Context.schemes`` is typed as the generic hook;
    ``Simulation`` installs a :class:`DamosEngine` on every context it builds)."""
    eng = ctx.schemes
    if not isinstance(eng, DamosEngine):
        raise TypeError(f"context has no DAMOS engine (schemes hook is {type(eng).__name__})")
    return eng


class OnlineChanges:
    # provided by Simulation, which mixes this class in
    bindings: list[ContextBinding]
    params: DamonParams
    topology: Topology

    if TYPE_CHECKING:
        def _schemes_of(self, cp: ContextParams, ki: int, ci: int) -> list[Scheme]: ...

    def commit(self, params: DamonParams | dict | str | Path) -> None:
        """Online update of the running contexts (damon_commit_ctx, [DS 7]):
        matched by index; attrs changes rescale counters; a target with regions gets them
        through damon_set_regions (surviving regions keep counters and age); a target without
        regions keeps its own. Adding or removing kdamonds/contexts is refused."""
        from damon_gym.damon.region import set_regions

        if not isinstance(params, DamonParams):
            params = load_damon_params(params)
        flat = [(ki, ci, cp) for ki, kd in enumerate(params.kdamonds)
                for ci, cp in enumerate(kd.contexts)]
        if len(flat) != len(self.bindings):
            raise ValueError(f"commit: {len(flat)} contexts given, {len(self.bindings)} running; "
                             "commit changes parameters of running contexts only")
        for (_, _, cp), b in zip(flat, self.bindings, strict=True):
            if cp.ops != b.ops:
                raise ValueError(f"commit: context {b.kdamond_idx}.{b.context_idx} runs {b.ops}, "
                                 f"cannot switch to {cp.ops} online")
            ctx = b.context
            new_attrs = cp.attrs()
            if new_attrs != ctx.attrs:
                ctx.set_attrs(new_attrs)
            for ti, t in enumerate(cp.targets):
                if ti >= len(ctx.targets):
                    break
                if t.regions:
                    tgt = ctx.targets[ti]
                    tgt.regions.assign_regions(set_regions(
                        tgt.regions.to_regions(), sorted((int(s), int(e)) for s, e in t.regions),
                        ctx.min_region_sz))
            if len(cp.targets) < len(ctx.targets) and not b.follow_all_processes:
                del ctx.targets[len(cp.targets):]
            self._commit_schemes(ctx, self._schemes_of(cp, b.kdamond_idx, b.context_idx))
        self.params = params

    @staticmethod
    def _commit_schemes(ctx: Context, new: list[Scheme]) -> None:
        """damon_commit_schemes(): by index; extra running schemes removed, new ones appended
        with fresh state; the charged-target marker is dropped if its target went away."""
        eng = damos_engine(ctx)
        for i, src in enumerate(new):
            if i < len(eng.schemes):
                eng.schemes[i].commit(src)
            else:
                src.next_apply_sis = ctx.passed_sample_intervals + src.apply_interval_sis(ctx.attrs)
                eng.schemes.append(src)
        del eng.schemes[len(new):]
        for s in eng.schemes:
            if s.qstate.charge_target_from is not None and s.qstate.charge_target_from >= len(ctx.targets):
                s.qstate.charge_target_from = None

    def schemes(self, kdamond_idx: int = 0, context_idx: int = 0) -> list[Scheme]:
        """The running schemes of one context."""
        for b in self.bindings:
            if (b.kdamond_idx, b.context_idx) == (kdamond_idx, context_idx):
                return damos_engine(b.context).schemes
        raise ValueError(f"no context {kdamond_idx}.{context_idx}")

    def update_scheme(self, scheme_idx: int = 0, *, kdamond_idx: int = 0, context_idx: int = 0,
                      dests: list[tuple[int, int]] | None = None, sz: int | None = None,
                      goal_targets: list[int] | None = None) -> None:
        """Commit new user fields of one running scheme (dests, size quota, goal targets), as
        damon_commit_ctx would: its stats, quota state and next apply time are kept. The
        running scheme is the one copy of these fields; ``export_damon_params`` writes them."""
        s = self.schemes(kdamond_idx, context_idx)[scheme_idx]
        if dests is not None:
            for i, (node, w) in enumerate(dests):
                if not 0 <= node < self.topology.nr_nodes or w < 0:
                    raise ValueError(f"dests[{i}]: node {node} (allowed 0..{self.topology.nr_nodes - 1})"
                                     f" and weight {w} (allowed >= 0)")
            s.dests = [(int(n), int(w)) for n, w in dests]
        if sz is not None:
            if sz < 0:
                raise ValueError(f"sz: {sz} must be >= 0 bytes")
            s.quota.sz = int(sz)
        if goal_targets is not None:
            if len(goal_targets) != len(s.quota.goals):
                raise ValueError(f"goal_targets: {len(goal_targets)} given, scheme has "
                                 f"{len(s.quota.goals)} goals")
            if any(v <= 0 for v in goal_targets):
                raise ValueError(f"goal target_value: {min(goal_targets)} must be > 0")
            for g, v in zip(s.quota.goals, goal_targets, strict=True):
                g.target_value = int(v)

    def set_goal_input(self, value: int, *, kdamond_idx: int = 0, context_idx: int = 0,
                       scheme_idx: int = 0, goal_idx: int = 0) -> None:
        """Feed a user_input quota goal (commit_schemes_quota_goals): the value is read the next
        time the scheme's effective quota is recomputed."""
        goal = self.schemes(kdamond_idx, context_idx)[scheme_idx].quota.goals[goal_idx]
        if goal.metric != "user_input":
            raise ValueError(f"goal {goal_idx} of scheme {scheme_idx} is {goal.metric}, not user_input")
        goal.current_value = int(value)

    def export_damon_params(self, path: str | Path) -> None:
        """Write the running DAMON parameters as a `damo args damon --format json` file, which
        `damo start FILE` (or `damo args damon FILE`) reads on a real kernel. Each scheme's
        ``quotas.effective_sz_bytes`` is its running effective quota (``esz``, real bytes), the
        figure `damo status` reads from the kernel's ``effective_bytes``; a kernel computes its
        own from the quotas and goals after `damo start`, so it is information, not a setting
        (as are the goals' ``current_value``s, written as last measured, except that a
        ``user_input`` goal's is the value last fed)."""
        from damon_gym.formats.params import save_damon_params

        params = self.params.model_copy(deep=True)
        for b in self.bindings:
            sps = params.kdamonds[b.kdamond_idx].contexts[b.context_idx].schemes
            for sp, s in zip(sps, damos_engine(b.context).schemes, strict=False):
                # the running scheme's user fields (update_scheme changes only those)
                if s.dests or sp.dests:
                    sp.dests = list(s.dests)
                sp.quotas.sz_bytes = int(s.quota.sz)
                sp.quotas.effective_sz_bytes = int(s.qstate.esz)
                for gp, g in zip(sp.quotas.goals, s.quota.goals, strict=False):
                    gp.target_value = int(g.target_value)
                    gp.current_value = int(g.current_value)
        save_damon_params(params, path)
