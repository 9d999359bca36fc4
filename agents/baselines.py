"""Baseline heuristic agents of [PM 3] (docs/model.md#pm-3), mapped onto the env's actions.

Every agent has the protocol of ``damon_gym.agents.base.Agent`` (``reset(seed)``, ``act(obs, info)``)
and works on the Box action spaces of all three tasks: the interleave part (Interleave and
Joint: dests weight shares and the scheme's quota) and the tiering part (Tiering and Joint:
demote/promote quotas and the fast node's free/used goal targets) are decided separately; an
agent with nothing to say about one part holds the upstream setting there (damo's mem_tier
recipe: 200 MiB per 1 s each, 50 bp free / 9970 bp used, [PM 3 B5]).

What a real system has, and so what these baselines may read: the observation (DAMON's view,
measured utilisation and loaded latency, the static bandwidth / idle-latency shares), the
machine's topology as firmware describes it (node count, the CPU's node, HMAT bandwidths:
what the kernel's weighted-interleave auto mode reads), and from ``info`` only ``time_s``,
``weights``, ``esz``, ``u``, ``latency_ewma_ns``, ``X`` (measured throughput),
``migrated_bytes`` and ``node_used_bytes``. Ground truth (``f_star``, ``shares``, ``X_star``)
is the oracles' alone (agents/references.py).

This module: the shared machinery, ``noop``, B0, B1, B2, B2+M, B3 (Caption), B4 (Colloid) and
``all-fast``; B5..B9 and the seed thread's recipes are in ``damon_gym.agents.damos_baselines``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.agents.references import interleave_action, tiering_action
from damon_gym.envs.spaces import N_MAX

MiB, GiB = 1 << 20, 1 << 30
NF = 12  # features per node block
#: the upstream DAMOS migration quota (damo mem_tier, mtier sample, the seed thread): 200 MiB/s
UPSTREAM_QUOTA = 200 * MiB
#: TPP's demotion headroom, demote_scale_factor = 2 % [2 S23]
TPP_FREE_BP = 200
#: midpoints of the observation's nr_accesses bands (idle, (0,25 %], (25,50 %], > 50 %)
BAND_MID = np.array([0.0, 0.125, 0.375, 0.75])


# -- what a real system can read -----------------------------------------------------------------
def node_feature(obs: np.ndarray, n: int, j: int) -> np.ndarray:
    """Feature ``j`` of the first ``n`` node blocks (``obs[12 i + j]``)."""
    return np.asarray(obs, dtype=np.float64)[j: NF * n: NF][:n]


def damon_access_shares(obs: np.ndarray, info: dict[str, Any], n: int) -> np.ndarray:
    """Each node's share of the accesses as DAMON sees them: bytes per nr_accesses band
    (``obs[12 i + 3..6]``, a fraction of the node's capacity, the capacity being
    ``info["node_used_bytes"] / obs[12 i + 1]``) weighted by the band's midpoint. The env's
    analogue of the per-tier PEBS sample counts Colloid and HeMem use. Zeros when DAMON sees
    no access."""
    used_ratio = node_feature(obs, n, 1)
    used = np.asarray(info["node_used_bytes"][:n], dtype=np.float64)
    cap = np.where(used_ratio > 0, used / np.maximum(used_ratio, 1e-12), 0.0)
    bands = np.stack([node_feature(obs, n, j) for j in (3, 4, 5, 6)])  # (4, n)
    mass = cap * (BAND_MID[:, None] * bands).sum(axis=0)
    s = mass.sum()
    return mass / s if s > 0 else np.zeros(n)


def hot_bytes(obs: np.ndarray, info: dict[str, Any], n: int) -> float:
    """Bytes DAMON sees accessed at all (nr_accesses > 0) over the nodes: an estimate of the
    hot set's size (real bytes)."""
    used_ratio = node_feature(obs, n, 1)
    used = np.asarray(info["node_used_bytes"][:n], dtype=np.float64)
    cap = np.where(used_ratio > 0, used / np.maximum(used_ratio, 1e-12), 0.0)
    return float((cap * sum(node_feature(obs, n, j) for j in (4, 5, 6))).sum())


def one_hot(n: int, i: int) -> np.ndarray:
    s = np.zeros(n)
    s[i] = 1.0
    return s


def fast_share_split(base, fast_share: float) -> np.ndarray:
    """``fast_share`` on the CPU's node, the rest over the others in proportion to their
    firmware bandwidth."""
    topo = base.topology
    n, fast = topo.nr_nodes, topo.cpu_node
    bw = np.array([nd.bw_read_gbps for nd in topo.nodes], dtype=np.float64)
    s = np.zeros(n)
    others = [i for i in range(n) if i != fast]
    s[fast] = fast_share
    if others:
        s[others] = (1.0 - fast_share) * bw[others] / bw[others].sum()
    return s


def auto_weights(base) -> np.ndarray:
    """The kernel's weighted-interleave auto weights ([PM 3 B2]: weightiness 32,
    floor, min 1, divided by the GCD) of the machine's firmware bandwidths."""
    return np.asarray(base.topology.auto_weights(), dtype=np.float64)


def upstream_tiering() -> tuple[int, int, int, int]:
    """damo's mem_tier recipe: demote and promote at 200 MiB per 1 s, goals 50 bp free and
    9970 bp used on the fast node."""
    return UPSTREAM_QUOTA, UPSTREAM_QUOTA, 50, 9970



def TPP_TIERING(base) -> tuple[int, int, int, int]:  # noqa: N802  (a constant of a machine)
    """B7's tiering controls: promotion at the maximum quota while the fast node is not full
    (9990 bp used), demotion only to keep TPP's 2 % headroom, at 200 MiB per 1 s."""
    return UPSTREAM_QUOTA, base.quota_max, TPP_FREE_BP, base.USED_BP[1]

class Baseline:
    """Shared machinery: ``act`` asks ``interleave(obs, info) -> (shares, quota_bytes)`` on
    Interleave/Joint and ``tiering(obs, info) -> (demote, promote, free_bp, used_bp)`` on
    Tiering/Joint and turns the answers into the env's action (float32, inside the Box).
    ``setup()`` runs at the first act on a machine (a suite env changes machine per reset)."""

    name = "baseline"

    def __init__(self, env: gym.Env, arg: str | None = None) -> None:
        base = env.unwrapped
        if not isinstance(base.action_space, gym.spaces.Box):
            raise ValueError(f"{self.name} needs action_type='box'")
        self.env, self.base, self.arg = env, base, arg
        self.task = type(base).task_name()
        self._topo = None
        self.reset()

    # hooks
    def setup(self) -> None:
        """Per machine."""

    def reset_state(self) -> None:
        """Per episode."""

    def interleave(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def tiering(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[int, int, int, int]:
        return upstream_tiering()

    # protocol
    def reset(self, seed: int | None = None) -> None:
        self._topo = None
        self.reset_state()

    @property
    def n(self) -> int:
        return self.base.nr_nodes

    @property
    def fast(self) -> int:
        return self.base.topology.cpu_node

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.base.topology is not self._topo:
            self._topo = self.base.topology
            self.setup()
        obs = np.asarray(obs, dtype=np.float64)
        parts = []
        if self.task in ("Interleave", "Joint"):
            shares, quota = self.interleave(obs, info)
            parts.append(interleave_action(self.base, shares, self._clip_quota(quota)))
        if self.task in ("Tiering", "Joint"):
            d, p, fb, ub = self.tiering(obs, info)
            lo, hi = self.base.FREE_BP
            ulo, uhi = self.base.USED_BP
            parts.append(tiering_action(self.base, self._clip_quota(d), self._clip_quota(p),
                                        int(np.clip(fb, lo, hi)), int(np.clip(ub, ulo, uhi))))
        a = np.concatenate(parts).astype(np.float32)
        return np.clip(a, -1.0, 1.0)

    def _clip_quota(self, q: float) -> int:
        return int(np.clip(q, self.base.quota_min, self.base.quota_max))

    def current_shares(self, info: dict[str, Any]) -> np.ndarray:
        """The dests weights in force (``info["weights"]``) as shares."""
        w = np.asarray(info["weights"][: self.n], dtype=np.float64)
        return w / w.sum() if w.sum() > 0 else np.ones(self.n) / self.n


class NoopAgent(Baseline):
    """Changes nothing: the env's starting weights (the kernel's auto weights, read back from
    ``info["weights"]``) at the minimum quota; on Tiering the minimum quotas at the env's
    starting goal targets (50 bp free / 9970 bp used). Source: none (a floor for comparison).
    Reads ``info["weights"]`` only."""

    name = "noop"

    def interleave(self, obs, info):
        return self.current_shares(info), self.base.quota_min

    def tiering(self, obs, info):
        q = self.base.quota_min
        return q, q, self.base.START_FREE_BP, self.base.START_USED_BP


class FirstTouchAgent(Baseline):
    """B0, default Linux: first-touch local with spill, no DAMOS migration ([PM 3 B0]). The allocation is the scenario's mempolicy (first touch unless it says otherwise);
    the env cannot switch DAMOS off, so the quota is the minimum (4 MiB per 1 s) with the
    weights all on the CPU's node (whatever little moves, moves towards local). Tiering: both
    quotas at the minimum and goals that ask for nothing once the fast node is full (10 bp
    free, 5000 bp used). The optional reclaim demotion (kswapd below WMARK_LOW [C S6
    page_alloc.c]) is B7's. Reads nothing (the topology's CPU node)."""

    name = "b0-first-touch"

    def interleave(self, obs, info):
        return one_hot(self.n, self.fast), self.base.quota_min

    def tiering(self, obs, info):
        q = self.base.quota_min
        return q, q, self.base.FREE_BP[0], self.base.USED_BP[0]


class EqualInterleaveAgent(Baseline):
    """B1, MPOL_INTERLEAVE: every node weight 1 ([PM 3 B1], the "-78 %" reference
    [C S2]). An allocation-time policy: the env's allocation is the scenario's mempolicy, so
    B1 holds equal dests weights at the minimum quota (placement only, like B2); on a scenario
    allocated 1:1 (anchor1-stream-spr-1to1) that is exactly MPOL_INTERLEAVE. Tiering: holds the upstream mem_tier settings (200 MiB/s each, 50 bp free / 9970 bp used). Reads nothing."""

    name = "b1-interleave"

    def interleave(self, obs, info):
        return np.ones(self.n) / self.n, self.base.quota_min


class BandwidthWeightsStatic(Baseline):
    """B2, the kernel's weighted-interleave auto mode [C S3, S4] ([PM 3 B2]): the
    weights from the firmware bandwidths (weightiness 32, floor, min 1, divided by the GCD),
    held, at the minimum quota: placement only, as the kernel's weights only affect new
    allocations (the env's allocation is the scenario's mempolicy; on anchor1-stream-spr-28to3
    it is these weights). Tiering: holds the upstream mem_tier settings (200 MiB/s each, 50 bp free / 9970 bp used). Reads the topology's
    bandwidths (what auto mode reads from HMAT), no observation."""

    name = "b2-bw-weights"
    quota_bytes = None  # None: the minimum

    def setup(self):
        self.w = auto_weights(self.base)

    def interleave(self, obs, info):
        q = self.base.quota_min if self.quota_bytes is None else self.quota_bytes
        return self.w, q


class BandwidthWeightsMigrate(BandwidthWeightsStatic):
    """B2+M (Tabatabai's DAMOS multi-destination interleave [C S8, S9], [PM 3 B2]
    variant): the auto weights of B2 and a ``migrate_hot`` dests scheme that moves the
    already-allocated hot pages to match them, at 200 MiB per 1 s (``b2m-bw-weights-migrate:
    MIB`` sets another quota). The env's scheme is the hot-only variant (>= 5 % of samples,
    apply interval 1 s); the cover letter's any-access pattern and its 500 ms / 5 s intervals
    are the scenario's, not the agent's, to set. Tiering: holds the upstream mem_tier settings (200 MiB/s each, 50 bp free / 9970 bp used). Reads
    the topology's bandwidths, no observation."""

    name = "b2m-bw-weights-migrate"

    def setup(self):
        super().setup()
        self.quota_bytes = int(float(self.arg) * MiB) if self.arg else UPSTREAM_QUOTA


class CaptionAgent(Baseline):
    """B3, Caption-style hill climbing of the slow-node share (Sun et al., MICRO 2023 [C S15];
    [PM 3 B3]). Ratio 10 : x (fast : slow), x in [1, 20], starting at x = 1 with
    step s = +3. Every epoch (default 20 s; ``b3-caption:SECONDS``) the objective m is the
    epoch's mean measured throughput (``obs[100]``, X over the machine's peak, in percent;
    ``info["X"]`` is the same measurement in accesses/s) and Δ = m - m_prev (m_prev = m - 1 on
    the first epoch): the fast node idle (``obs[12 f + 7]`` < 5 %) keeps x and sets s = 1;
    |Δ| < 0.5 % of m holds x with s = ±1 (sign kept); a drop of more than 50 % resets x = 1,
    s = 3; otherwise s is kept if Δ > 0, else s = -s/2 (rounded, |s| >= 1); x = clip(x + s,
    1, 20). Weights 10 : x, x split over the slow nodes in proportion to bandwidth. The env
    variant is B3+M: Caption itself only sets the ratio of new allocations, which in the env
    never happen after the start, so the weights reach existing hot pages through the dests
    scheme at 200 MiB per 1 s (without it the climb would measure nothing). Caption's linear
    PCM estimator (IPC, L1-miss and DDR read latency) is replaced by the measured throughput,
    as [PM 3 B3] allows. Tiering: holds the upstream mem_tier settings (200 MiB/s each, 50 bp free / 9970 bp used). Reads ``obs[100]``, ``obs[12 f +
    7]`` (f the CPU's node) and the topology's bandwidths."""

    name = "b3-caption"

    def setup(self):
        self.epoch_steps = max(1, int(round(float(self.arg or 20.0) / self.base.step_s)))

    def reset_state(self):
        self.x, self.s, self.m_prev, self.acc = 1, 3, None, []

    def _ratio_shares(self) -> np.ndarray:
        return fast_share_split(self.base, 10.0 / (10.0 + self.x))

    def interleave(self, obs, info):
        self.acc.append(100.0 * float(obs[N_MAX * NF + 4]))
        if len(self.acc) >= self.epoch_steps:
            self._climb(float(np.mean(self.acc)), float(obs[NF * self.fast + 7]))
            self.acc = []
        return self._ratio_shares(), UPSTREAM_QUOTA

    def _climb(self, m: float, u_fast: float) -> None:
        prev = m - 1.0 if self.m_prev is None else self.m_prev
        d = m - prev
        self.m_prev = m
        sign = 1 if self.s > 0 else -1
        if u_fast < 0.05:
            self.s = 1
            return
        if abs(d) < 0.005 * abs(m):
            self.s = sign
            return
        if d < -0.5 * abs(prev):
            self.x, self.s = 1, 3
            return
        if d <= 0:
            self.s = -sign * max(1, int(round(abs(self.s) / 2)))
        self.x = int(np.clip(self.x + self.s, 1, 20))


class ColloidAgent(Baseline):
    """B4, Colloid-style loaded-latency balancing (Vuppalapati & Agarwal, SOSP 2024 [C S6
    code, 2 S7]; [PM 3 B4]). Every step: the EWMA loaded latencies
    ``obs[12 i + 8]`` of the default (CPU's) node D and the alternate node A (more nodes: the
    highest- and the lowest-latency node, one pair per step); the access share p on D as DAMON
    sees it (``damon_access_shares``: the nr_accesses bands ``obs[12 i + 3..6]`` weighted by
    band, times the capacity ``info["node_used_bytes"] / obs[12 i + 1]``; Colloid counts PEBS
    samples per tier). If |L_D - L_A| <= 5 % of L_D: do nothing (weights kept, minimum quota).
    Otherwise shift Δp = p(1-p)|L_D - L_A| / (p L_A + (1-p) L_D) (EXPR3) of the access share
    from the higher- to the lower-latency node (p kept within [0.02, 0.98]: at exactly 0 or
    1, which DAMON's view of a fully local placement gives, EXPR3 would never move): dests
    weights = the measured shares moved by
    Δp (at least one 1/32 weight quantum, which the integer weights would otherwise round
    away), starting from the weights in force where they are ahead of the measured placement
    (by at most 0.125: Colloid counts a tick's move at once, DAMOS realises it over steps),
    quota = min(200 MiB, Δp X 64 B τ) with X the measured throughput ``info["X"]`` (at
    least the minimum). Not expressible: Colloid's pairwise hot/cold page swaps (two-pointer
    pairing) -- DAMOS picks the regions by its own hotness priority; the binary-search variant
    is not implemented. Tiering (TPP+colloid): while L_D > 1.05 L_A promotions stop (minimum
    promote quota, 5000 bp used target) and the demotion keeps the upstream setting;
    otherwise B7's TPP settings. Reads ``obs[12 i + 1, 3..6, 8]``, ``info["node_used_bytes"]``,
    ``info["X"]``, ``info["weights"]``."""

    name = "b4-colloid"
    delta = 0.05
    p_min = 0.02
    max_lead = 0.125

    def interleave(self, obs, info):
        n = self.n
        lat = node_feature(obs, n, 8)
        p = damon_access_shares(obs, info, n)
        if p.sum() <= 0:
            return self.current_shares(info), self.base.quota_min
        if n == 2:
            d = self.fast
            a = 1 - d
            src, dst = (d, a) if lat[d] > lat[a] else (a, d)
        else:
            src, dst = int(np.argmax(lat)), int(np.argmin(lat))
            d, a = self.fast, (dst if src == self.fast else src)
        if abs(lat[d] - lat[a]) <= self.delta * lat[d] or src == dst:
            return self.current_shares(info), self.base.quota_min
        # EXPR3 within the pair (p = the pair's share on D)
        mass = p[d] + p[a]
        # a tier holding every hot page (p = 0 or 1) would make EXPR3 zero for good: real
        # counters never read exactly that, so p is kept within [P_MIN, 1 - P_MIN]
        pd = float(np.clip(p[d] / mass if mass > 0 else 0.5, self.p_min, 1 - self.p_min))
        dp = pd * (1 - pd) * abs(lat[d] - lat[a]) / max(pd * lat[a] + (1 - pd) * lat[d], 1e-9)
        # at least one weight quantum beyond the measured placement, or the integer weights
        # (summing to weight_total) would round a small shift away and nothing would move
        shift = max(dp * mass, 1.0 / self.base.weight_total)
        # Colloid counts each tick's move at once; DAMOS realises the weights over a few steps,
        # so the move starts from the weights in force when they are ahead of the measured
        # placement, by at most MAX_LEAD (which bounds the overshoot of a lagging placement)
        cur = self.current_shares(info)
        base_src = float(np.clip(cur[src], p[src] - self.max_lead, p[src]))
        target = p.copy()
        target[src] = max(base_src - shift, 0.0)
        target[dst] += p[src] - target[src]
        shift = p[src] - target[src]
        quota = min(UPSTREAM_QUOTA, shift * float(info["X"]) * 64.0 * self.base.step_s)
        return target, max(int(quota), self.base.quota_min)

    def tiering(self, obs, info):
        lat = node_feature(obs, self.n, 8)
        d = self.fast
        others = [i for i in range(self.n) if i != d]
        if others and lat[d] > (1 + self.delta) * min(lat[i] for i in others):
            return UPSTREAM_QUOTA, self.base.quota_min, 50, self.base.USED_BP[0]
        return TPP_TIERING(self.base)


class AllFastAgent(Baseline):
    """Reference bound *all-fast* ([PM 3 B11]): every hot page on the CPU's node.
    Interleave: weights all on the CPU's node at the maximum quota; Tiering: promotion and
    demotion at the maximum quota with the fast node filled (9990 bp used) and only the
    minimum room kept (10 bp free). Not an optimum: when bandwidth-bound it loses to any
    spread. Reads nothing."""

    name = "all-fast"

    def interleave(self, obs, info):
        return one_hot(self.n, self.fast), self.base.quota_max

    def tiering(self, obs, info):
        q = self.base.quota_max
        return q, q, self.base.FREE_BP[0], self.base.USED_BP[1]
