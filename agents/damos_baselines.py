"""Baselines that drive DAMOS goals and quotas: B5 (mem_tier), B6 (hot-share goals), B7
(TPP/NUMAB-2), B8 (three regimes), B9 (ARMS-style cost-benefit) and the seed thread's two
recipes ([PM 3], docs/model.md#pm-3). The shared machinery and what a baseline may read are
in ``damon_gym.agents.baselines``."""

from __future__ import annotations

import numpy as np

from damon_gym.agents.baselines import (
    NF,
    TPP_FREE_BP,
    TPP_TIERING,
    UPSTREAM_QUOTA,
    Baseline,
    MiB,
    auto_weights,
    damon_access_shares,
    hot_bytes,
    node_feature,
    one_hot,
    upstream_tiering,
)


def _hold_tiering(base) -> tuple[int, int, int, int]:
    """Minimum quotas and goals that ask for nothing while the fast node is full."""
    q = base.quota_min
    return q, q, base.FREE_BP[0], base.USED_BP[0]


class MemTierAgent(Baseline):
    """B5, DAMOS self-tuned tiering: damo's mem_tier recipe and the kernel's mtier sample
    (SJ Park, 2025 [C S24, S25, S26]; [PM 3 B5]). Tiering/Joint: demote
    (migrate_cold, young pages rejected) and promote (migrate_hot, young pages only) at sz =
    200 MiB per 1 s, goals node_mem_free_bp(fast) = 50 and node_mem_used_bp(fast) = 9970 --
    the env's own recipe, which also fixes the access patterns, filters, quota weights and
    the goal tuner (temporal by default; ``goal_tuner="consist"`` is the esz feedback loop of [PM 3 B5]);
    the monitoring intervals (access_bp 400 auto-tuning, 10..1000 regions) are the
    scenario's. Interleave: promotion to the fast node through the dests scheme (all weight
    on the CPU's node) at 200 MiB per 1 s. Reads nothing."""

    name = "b5-mem-tier"

    def interleave(self, obs, info):
        return one_hot(self.n, self.fast), UPSTREAM_QUOTA

    def tiering(self, obs, info):
        return upstream_tiering()


class HotShareAgent(Baseline):
    """B6, bandwidth-aligned hot-share goals (Jonnalagadda's ``node_eligible_mem_bp`` /
    ``node_ineligible_mem_bp`` PUSH/PULL schemes, RFC 2026 [C S11]; [PM 3 B6]). The
    target hot share of node i is h_i = w_i / sum(w) of the B2 weights. The measured hot share
    is DAMON's (``obs[12 i + 2]``), with lag compensation: the bytes migrated in the last 10 s
    (``info["migrated_bytes"]``) are credited to the nodes they were sent to, over the hot
    set's size (bytes with nr_accesses > 0: ``obs[12 i + 3..6]`` times the capacity
    ``info["node_used_bytes"] / obs[12 i + 1]``). TEMPORAL tuner: while a node is below its
    target by more than the dead band (default 100 bp, ``b6-hot-share:BP``; the kernel has
    none and would bang-bang), PUSH/PULL to it at 200 MiB per 1 s: the dests weights go to
    the nodes under target in proportion to their deficit, so hot pages leave the nodes over
    target; once every goal is met, the minimum quota (the tuner's 0) with the weights kept.
    Tiering: the promote scheme is the PULL (200 MiB per 1 s while the fast node's hot share
    is below its target, else the minimum with a 5000 bp used target) and B5's demotion keeps
    room; hot pages cannot be PUSHed there (the env's demote scheme moves idle memory only).
    Joint: the interleave part does the PUSH/PULL and the tiering part is B5's demotion with
    promotion held. Reads ``obs[12 i + 1..6]``, ``info["node_used_bytes"]``,
    ``info["migrated_bytes"]``, ``info["weights"]``."""

    name = "b6-hot-share"
    lag_s = 10.0

    def setup(self):
        w = auto_weights(self.base)
        self.target = w / w.sum()
        self.band = float(self.arg) / 1e4 if self.arg else 0.01

    def reset_state(self):
        self.credits: list[np.ndarray] = []  # per step: bytes credited to each node
        self.last_dest = None

    def _measured(self, obs, info) -> np.ndarray:
        n = self.n
        h = node_feature(obs, n, 2).copy()
        moved = float(info["migrated_bytes"])
        credit = np.zeros(n)
        if self.last_dest is not None and moved > 0:
            credit = moved * self.last_dest
        self.credits.append(credit)
        keep = max(1, int(round(self.lag_s / self.base.step_s)))
        self.credits = self.credits[-keep:]
        total = hot_bytes(obs, info, n)
        if total > 0 and h.sum() > 0:
            c = np.sum(self.credits, axis=0) / total
            h = np.clip(h + c - c.sum() * h, 0.0, None)  # credited bytes leave their sources
            h = h / h.sum() if h.sum() > 0 else h
        return h

    def interleave(self, obs, info):
        h = self._measured(obs, info)
        if h.sum() <= 0:
            self.last_dest = None
            return self.current_shares(info), self.base.quota_min
        deficit = self.target[: self.n] - h
        under = deficit > self.band
        if not under.any():
            self.last_dest = None
            return self.current_shares(info), self.base.quota_min
        w = np.where(under, deficit, 0.0)
        self.last_dest = w / w.sum()
        return self.last_dest, UPSTREAM_QUOTA

    def tiering(self, obs, info):
        if self.task == "Joint":
            return UPSTREAM_QUOTA, self.base.quota_min, 50, self.base.USED_BP[0]
        h = node_feature(obs, self.n, 2)
        if h.sum() > 0 and self.target[self.fast] - h[self.fast] > self.band:
            return UPSTREAM_QUOTA, UPSTREAM_QUOTA, 50, 9970
        return UPSTREAM_QUOTA, self.base.quota_min, 50, self.base.USED_BP[0]


class TPPAgent(Baseline):
    """B7, TPP / NUMA-balancing tiering (NUMAB-2) (Al Maruf et al., ASPLOS 2023 [2 S21, S23];
    kernel fair.c / page_alloc.c [C S6]; [PM 3 B7]): promotion-driven. Tiering:
    the promote quota at the maximum of the action space (NUMAB-2's 65536 MB/s rate limit is
    beyond it) while the fast node is below 9990 bp used; demotion only to keep TPP's
    demote_scale_factor headroom (200 bp free), at 200 MiB per 1 s (reclaim is paced by
    allocation pressure). Interleave: every hot page pulled to the CPU's node at the maximum
    quota (promotion only; no demotion exists in that task). Not expressible: hint-fault
    sampling (256 MB per scan period), the 1000 ms hot threshold and its adaptation (the
    env's hot pattern is fixed at >= 5 % of samples), and the synchronous promotion stall
    (the env's promotion is DAMOS's, asynchronous). Reads nothing."""

    name = "b7-tpp"

    def interleave(self, obs, info):
        return one_hot(self.n, self.fast), self.base.quota_max

    def tiering(self, obs, info):
        return TPP_TIERING(self.base)


class ThreeRegimeAgent(Baseline):
    """B8, the three-regime policy (Huang Ying's outline, LSF/MM 2025 thread [C S61];
    [PM 3 B8]), decided from the fast (CPU's) node's measured utilisation
    u = ``obs[12 f + 7]`` and free capacity 1 - ``obs[12 f + 1]``: (1) free capacity (>= 2 %)
    and u < u_hi = 0.8 (latency-bound): fast-only weights, promote everything hot (dests all
    on the fast node at 200 MiB per 1 s; Tiering: B5 with the promote goal at 9990 bp);
    (2) the fast node full and u < u_hi: classic tiering (B5; Interleave: the same pull to
    the fast node, which DAMOS stops when it is full); (3) u >= u_hi (bandwidth-bound):
    bandwidth-aligned, the B2 weights with B6's push of hot pages (dests = B2 weights at
    200 MiB per 1 s; Tiering: promotion stopped, B5's demotion kept). Regime 3 is left when
    u < u_lo = 0.6 (hysteresis) and no regime changes within a dwell of 10 s. The brief's
    "in between" is the hysteresis band, where the current regime holds. Reads
    ``obs[12 f + 1]``, ``obs[12 f + 7]``, ``info["time_s"]`` and the topology's bandwidths."""

    name = "b8-three-regime"
    u_hi, u_lo, dwell_s = 0.8, 0.6, 10.0

    def setup(self):
        self.w = auto_weights(self.base)

    def reset_state(self):
        self.regime, self.since = None, -np.inf

    def _update(self, obs, info) -> int:
        f = self.fast
        u = float(obs[NF * f + 7])
        free = 1.0 - float(obs[NF * f + 1])
        t = float(info["time_s"])
        if self.regime == 3:
            want = 3 if u >= self.u_lo else (1 if free >= 0.02 else 2)
        else:
            want = 3 if u >= self.u_hi else (1 if free >= 0.02 else 2)
        if self.regime is None or (want != self.regime and t - self.since >= self.dwell_s):
            self.regime, self.since = want, t
        return self.regime

    def act(self, obs, info):
        self._update(obs, info)
        return super().act(obs, info)

    def interleave(self, obs, info):
        if self.regime == 3:
            return self.w, UPSTREAM_QUOTA
        return one_hot(self.n, self.fast), UPSTREAM_QUOTA

    def tiering(self, obs, info):
        if self.regime == 1:
            return UPSTREAM_QUOTA, UPSTREAM_QUOTA, 50, self.base.USED_BP[1]
        if self.regime == 2:
            return upstream_tiering()
        return UPSTREAM_QUOTA, self.base.quota_min, 50, self.base.USED_BP[0]


class ArmsAgent(Baseline):
    """B9, ARMS-style threshold-free tiering (Yadalam et al., 2025, arXiv 2508.04417 [2 S33];
    [PM 3 B10], which gives only an outline [U]). Hotness: each node's access share
    as DAMON sees it (``damon_access_shares``) smoothed by a short and a long EWMA (α = 0.5 /
    0.05); a move must pay off under both. Candidate moves shift δ in {1, 2, 4, 8}/32 of the
    access share from the node with the highest EWMA loaded latency (``obs[12 i + 8]``) to the
    lowest. Benefit over the horizon H = 10 s: the relative throughput gain of an MLP-limited
    application, (L_avg - L_avg') / L_avg' with L_avg = sum_i p_i L_i, each node's latency
    after the move from an M/M/1-like curve L_i' = L_i (1 - u_i) / (1 - u_i') (u =
    ``obs[12 i + 7]``, the moved utilisation δ sum_j u_j B_j / B_i with B the static bandwidth
    shares ``obs[12 i + 10]``) -- so a move that would load the destination past the knee is
    refused (bandwidth awareness). Cost: the copy time of the moved bytes (δ times the hot
    set's size, ``hot_bytes``) at 7 GB/s ([PM 2.7]'s B_copy, kdamond's time) plus
    the seconds of application traffic (64 B per access of the measured throughput
    ``info["X"]``) their read and write copy traffic displaces, weighted by the busier node's
    utilisation. The best move with benefit > cost
    is made: dests weights = the measured shares moved by δ, quota = its bytes, at most the
    200 MiB per 1 s budget (batching: a large δ spreads over steps); no move -> the minimum
    quota with the weights kept. Tiering: the same test for a move to the fast node drives the
    promote scheme (200 MiB per 1 s, 9990 bp used, demotion making 2 % room) or holds (minimum
    quotas); a move away from the fast node cannot be made there (demotion moves idle memory
    only). Per-region hotness (ARMS ranks pages) is not expressible: DAMOS picks the regions.
    Reads ``obs[12 i + 1, 3..8, 10]``, ``info["node_used_bytes"]``, ``info["X"]``,
    ``info["weights"]``."""

    name = "b9-arms"
    alphas = (0.5, 0.05)
    horizon_s = 10.0
    b_copy = 7e9
    steps = (1 / 32, 2 / 32, 4 / 32, 8 / 32)

    def reset_state(self):
        self.short = self.long = None
        self.decision = None

    def act(self, obs, info):
        self.decision = self._decide(np.asarray(obs, dtype=np.float64), info)
        return super().act(obs, info)

    def _decide(self, obs, info):
        n = self.base.nr_nodes
        p = damon_access_shares(obs, info, n)
        if p.sum() <= 0:
            return None
        a_s, a_l = self.alphas
        if self.short is None or self.short.shape != p.shape:
            self.short, self.long = p.copy(), p.copy()
        else:
            self.short = a_s * p + (1 - a_s) * self.short
            self.long = a_l * p + (1 - a_l) * self.long
        lat = node_feature(obs, n, 8)
        u = np.clip(node_feature(obs, n, 7), 0.0, 0.99)
        bw = node_feature(obs, n, 10)
        src, dst = int(np.argmax(lat)), int(np.argmin(lat))
        if src == dst or bw[dst] <= 0 or bw[src] <= 0:
            return None
        demand = float((u * bw).sum())
        size = hot_bytes(obs, info, n)
        app_bps = max(float(info["X"]) * 64.0, 1.0)
        best = None
        for d in self.steps:
            nets = []
            for est in (self.short, self.long):
                move = min(d, float(est[src]))
                if move <= 0:
                    nets.append(-1.0)
                    continue
                u2 = u.copy()
                u2[src] -= move * demand / bw[src]
                u2[dst] += move * demand / bw[dst]
                if u2[dst] >= 0.99:
                    nets.append(-1.0)
                    continue
                lat2 = lat * (1 - u) / (1 - np.clip(u2, 0.0, 0.99))
                p2 = est.copy()
                p2[src] -= move
                p2[dst] += move
                l_avg, l_avg2 = float((est * lat).sum()), float((p2 * lat2).sum())
                gain = (l_avg - l_avg2) / max(l_avg2, 1e-9) * self.horizon_s
                moved = move * size
                # kdamond's copy time, and the copy traffic (read + write) displacing the
                # application's bytes in proportion to how loaded the busier node is
                cost = moved / self.b_copy + 2.0 * moved / app_bps * max(u[src], u[dst])
                nets.append(gain - cost)
            net = min(nets)
            if net > 0 and (best is None or net > best[0]):
                best = (net, d, src, dst)
        if best is None:
            return None
        _, d, src, dst = best
        move = min(d, float(p[src]))
        target = p.copy()
        target[src] -= move
        target[dst] += move
        return target, int(min(move * size, UPSTREAM_QUOTA)), src, dst

    def interleave(self, obs, info):
        if self.decision is None:
            return self.current_shares(info), self.base.quota_min
        target, q, _, _ = self.decision
        return target, max(q, self.base.quota_min)

    def tiering(self, obs, info):
        if self.decision is not None and self.decision[3] == self.fast:
            return UPSTREAM_QUOTA, UPSTREAM_QUOTA, TPP_FREE_BP, self.base.USED_BP[1]
        return _hold_tiering(self.base)


class TwoSchemeRecipe(Baseline):
    """The seed thread's two-scheme recipe (issue 10's seed thread; DAMOS dests [C S8, S9] and
    quota goals [C S24, S58]): two migrate_hot schemes interleaving with a
    ``node_mem_used_bp`` goal of 50 % on one side and a ``node_mem_free_bp`` goal of 50 % on the
    other, quota 200 MiB per 1 s. Tiering/Joint: the env's two schemes at 200 MiB per 1 s with
    the goal targets 5000 bp free / 5000 bp used on the fast node. Interleave (one scheme):
    equal dests weights over the nodes (the 50 / 50 split) at 200 MiB per 1 s while the fast
    node's used ratio (``obs[12 f + 1]``) is off 50 % by more than 1 % (the goal unmet,
    temporal tuner), the minimum quota once it is met. Reads ``obs[12 f + 1]``."""

    name = "recipe-two-scheme"

    def interleave(self, obs, info):
        used = float(obs[NF * self.fast + 1])
        q = UPSTREAM_QUOTA if abs(used - 0.5) > 0.01 else self.base.quota_min
        return np.ones(self.n) / self.n, q

    def tiering(self, obs, info):
        return UPSTREAM_QUOTA, UPSTREAM_QUOTA, 5000, 5000


class UserInputRecipe(Baseline):
    """The seed thread's user-space controller feeding node balance as a ``user_input`` quota
    goal (issue 10's seed thread; the kernel's quota goal feedback [C S58, S59]): a
    proportional controller. Error e = the fast node's bandwidth share
    (``obs[12 f + 10]``) minus its measured share of the memory traffic (u_f B_f / sum u_i B_i
    from ``obs[12 i + 7]`` and ``obs[12 i + 10]``). Interleave: dests = the B2 weights with a
    quota of 200 MiB per 1 s times |e| / 10 % (capped at 200 MiB, the minimum below; gain
    ``recipe-user-input:PCT``), so hot pages move towards the bandwidth split at a rate that
    falls as the balance is reached (what the kernel's quota goal does with user_input =
    balance). Tiering: promotion at that quota while the fast node carries less than its
    share (e > 0), else the minimum promote quota; B5's demotion. Reads ``obs[12 i + 7]``,
    ``obs[12 i + 10]`` and the topology's bandwidths."""

    name = "recipe-user-input"

    def setup(self):
        self.w = auto_weights(self.base)
        self.full_at = float(self.arg) / 100 if self.arg else 0.10

    def _error(self, obs) -> float:
        n, f = self.n, self.fast
        u, bw = node_feature(obs, n, 7), node_feature(obs, n, 10)
        traffic = u * bw
        if traffic.sum() <= 0:
            return 0.0
        return float(bw[f] - traffic[f] / traffic.sum())

    def _quota(self, e: float) -> int:
        return int(min(1.0, abs(e) / self.full_at) * UPSTREAM_QUOTA)

    def interleave(self, obs, info):
        return self.w, max(self._quota(self._error(obs)), self.base.quota_min)

    def tiering(self, obs, info):
        e = self._error(obs)
        if e > 0:
            return UPSTREAM_QUOTA, max(self._quota(e), self.base.quota_min), 50, 9970
        return UPSTREAM_QUOTA, self.base.quota_min, 50, self.base.USED_BP[0]


__all__ = ["MemTierAgent", "HotShareAgent", "TPPAgent", "ThreeRegimeAgent", "ArmsAgent",
           "TwoSchemeRecipe", "UserInputRecipe", "TPP_TIERING", "MiB"]
