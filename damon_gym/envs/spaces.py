"""Observation layout and action mapping shared by the DamonGym tasks.

Observation: a flat float32 vector, ``N_MAX`` (8) node blocks of ``NODE_FEATURES`` followed by
``GLOBAL_FEATURES``; nodes a topology does not have are all zero with mask 0, so one policy
runs on any machine of up to 8 nodes. Every entry is clipped into its documented bounds.

Actions (``action_mode="absolute"``, the default): each component is in [-1, 1].

* weight preferences ``a_i`` (one per node slot): the node's share of the dests weights is
  ``(a_i + 1) / sum_j (a_j + 1)`` over the topology's nodes (all equal when every ``a_i`` is
  -1), quantised to integer weights that sum to exactly ``weight_total`` (32) by largest
  remainders (ties to the lower node id). Keeping the sum fixed instead of dividing by the
  GCD is deliberate: one ratio always maps to one weight vector, and a one-unit change of the
  ratio re-targets only 1/32 of the interleaved pages under the kernel's page-offset rule,
  where a GCD-reduced vector (e.g. 24:8 -> 3:1) would re-target about half of them;
* quota scales ``q``: log-uniform, bytes = ``quota_min * (quota_max / quota_min) ** ((q + 1)
  / 2)`` (defaults 4 MiB .. 4 GiB of the real machine per 1 s step, so each quarter of the
  range is a factor of 5.6), rounded down to 4 KiB (never 0, which DAMOS reads as "no
  quota");
* goal targets (tiering) ``g``: basis points = ``lo + (g + 1) / 2 * (hi - lo)``, rounded.

``action_mode="delta"``: the same components move the current value by at most
``delta_scale`` (default 0.1) of its range per step (weights: of the share; all clipped).
``MultiDiscrete`` actions (``action_type="multidiscrete"``): each component takes one of
``levels`` (default 9) values, level ``l`` meaning ``a = -1 + 2 l / (levels - 1)``.
"""

from __future__ import annotations

import math

import numpy as np

N_MAX = 8
NODE_FEATURES = (
    ("mask", 0.0, 1.0, "1 if the node exists"),
    ("used_ratio", 0.0, 1.0, "used bytes / capacity"),
    ("hot_share", 0.0, 1.0, "share of the bytes DAMON sees as hot (>= 5 % of samples) that sit on the node"),
    ("hist_idle", 0.0, 1.0, "bytes in regions with nr_accesses 0, / capacity"),
    ("hist_low", 0.0, 1.0, "bytes with nr_accesses in (0, 25 %] of the maximum, / capacity"),
    ("hist_mid", 0.0, 1.0, "bytes with nr_accesses in (25 %, 50 %], / capacity"),
    ("hist_high", 0.0, 1.0, "bytes with nr_accesses above 50 %, / capacity"),
    ("bw_util", 0.0, 1.0, "measured bandwidth utilisation (demand / sustainable bandwidth)"),
    ("latency_rel", 0.0, 64.0, "EWMA loaded latency / the fastest node's idle latency"),
    ("weight_share", 0.0, 1.0, "the node's share of the current dests weights"),
    ("bw_share", 0.0, 1.0, "the node's share of the machine's bandwidth (static)"),
    ("idle_latency_share", 0.0, 1.0, "the node's share of the sum of idle latencies (static)"),
)
GLOBAL_FEATURES = (
    ("esz_ratio", 0.0, 1.0, "effective quota of the controlled scheme / quota_max"),
    ("migrated_ratio", 0.0, 128.0, "bytes migrated in the last step / 200 MiB"),
    ("tried_ratio", 0.0, 16.0, "bytes DAMOS tried in the last step / total memory"),
    ("applied_ratio", 0.0, 128.0, "bytes DAMOS applied in the last step / 200 MiB"),
    ("throughput_ratio", 0.0, 1.0, "measured application throughput / the machine's peak"),
)
#: the byte scale of migrated_ratio and applied_ratio: 200 MiB of the real machine, the default
#: M_cap (the upstream DAMOS tiering quota per second, docs/reward.md). Fixed, not the env's
#: ``m_cap_bytes``: that one is a reward term, and a model trained with another churn charge
#: must see the same observations as the task's own envs in ``eval`` and ``run``.
OBS_BYTES = 200 * (1 << 20)
NF = len(NODE_FEATURES)
OBS_DIM = N_MAX * NF + len(GLOBAL_FEATURES)
LOW = np.array([f[1] for f in NODE_FEATURES] * N_MAX + [f[1] for f in GLOBAL_FEATURES], np.float32)
HIGH = np.array([f[2] for f in NODE_FEATURES] * N_MAX + [f[2] for f in GLOBAL_FEATURES], np.float32)


def sum_as_numpy(xs: list[float]) -> float:
    """``np.sum`` of a short list, bit for bit: numpy adds fewer than 8 float64 values in
    order and exactly 8 as two pairs of pairs (its pairwise summation's 8 accumulators, then
    their sum), both to its identity 0.0 (so all -0.0 sum to 0.0), so plain Python does the
    same up to 8 (the most nodes a machine has)."""
    n = len(xs)
    if n < 8:
        t = 0.0
        for x in xs:
            t += x
        return t
    if n == 8:
        return 0.0 + (((xs[0] + xs[1]) + (xs[2] + xs[3])) + ((xs[4] + xs[5]) + (xs[6] + xs[7])))
    return float(np.sum(np.asarray(xs, dtype=np.float64)))


def _clip1(x: float) -> float:
    """``np.clip(x, -1, 1)`` of a finite float."""
    return -1.0 if x < -1.0 else (1.0 if x > 1.0 else x)


# The action mapping runs at every env step on 2..8 values, where numpy's per-call overhead is
# most of the cost: these are plain Python with numpy's arithmetic (same order, same results).
def quantise_weights(shares, total: int) -> list[int]:
    """Integer weights summing to ``total`` closest to ``shares * total`` (largest remainder;
    ties go to the lower node id)."""
    return quantise_shares([float(x) for x in shares], total)


def quantise_shares(s: list[float], total: int) -> list[int]:
    """``quantise_weights`` of shares that are Python floats already (the env's, without
    converting them again)."""
    n = len(s)
    t = sum_as_numpy(s)
    floor = math.floor
    w: list[int] = []
    rem: list[float] = []
    for x in s:  # one loop: on a few values, a comprehension per list costs more than its work
        r = x / t * total if t > 0 else 1.0 / n * total
        f = floor(r)
        w.append(f)
        rem.append(r - f)
    left = total - sum(w)
    if left:
        # descending remainders; the sort is stable, so equal ones keep the lower node id first
        for i in sorted(range(n), key=rem.__getitem__, reverse=True)[:left]:
            w[i] += 1
    return w


def prefs_to_shares(prefs: list[float]) -> list[float]:
    """The weight shares of the preferences ``prefs`` (floats, one per node)."""
    p = [_clip1(x) + 1.0 for x in prefs]
    t = sum_as_numpy(p)
    return [x / t for x in p] if t > 0 else [1.0 / len(p)] * len(p)


def scale(a: float, lo: float, hi: float) -> float:
    """[-1, 1] -> [lo, hi]."""
    return lo + (_clip1(float(a)) + 1.0) / 2.0 * (hi - lo)


def unscale(v: float, lo: float, hi: float) -> float:
    """[lo, hi] -> [-1, 1]."""
    return _clip1(2.0 * (v - lo) / (hi - lo) - 1.0) if hi > lo else 0.0


def log_scale(a: float, lo: float, hi: float) -> float:
    """[-1, 1] -> [lo, hi], log-uniform (lo > 0)."""
    x = (_clip1(float(a)) + 1.0) / 2.0
    return float(lo * (hi / lo) ** x)


def log_unscale(v: float, lo: float, hi: float) -> float:
    """[lo, hi] -> [-1, 1], the inverse of ``log_scale``."""
    if hi <= lo:
        return 0.0
    x = np.log(max(float(v), lo) / lo) / np.log(hi / lo)  # numpy's log (math.log can differ)
    return _clip1(float(2.0 * x - 1.0))
