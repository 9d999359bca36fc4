"""The envs' per-step glue runs in plain Python floats where numpy's per-call cost on 2..13
values was most of the work (the action mapping, the observation's node sums): these check
that it still gives numpy's results bit for bit, against the numpy expressions it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym.envs import observe
from damon_gym.envs.spaces import N_MAX, NF, prefs_to_shares, quantise_shares, sum_as_numpy
from damon_gym.envs.tasks import InterleaveEnv, JointEnv, TieringEnv


def _vectors(rng, n: int, count: int):
    """Random vectors of ``n`` values of mixed signs and magnitudes, some with repeats."""
    for k in range(count):
        if k % 4 == 0:
            yield rng.choice([-1.0, -0.5, -0.0, 0.0, 0.25, 1.0], n)
        else:
            yield rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-6, 12, n)


@pytest.mark.parametrize("n", range(1, 13))
def test_sums_are_np_sum(n):
    """sum_as_numpy (lists, up to any length) and the observation's compiled _np_sum
    (arrays of up to 8 values) give np.sum's bits, -0.0 included."""
    rng = np.random.default_rng(n)
    for v in [*_vectors(rng, n, 3000), np.full(n, -0.0)]:
        want = np.sum(v).tobytes()
        assert np.float64(sum_as_numpy(v.tolist())).tobytes() == want
        if n <= N_MAX:
            assert np.float64(observe._np_sum(v)).tobytes() == want


def _shares_numpy(a: np.ndarray) -> np.ndarray:
    p = np.clip(a, -1.0, 1.0) + 1.0
    t = np.sum(p)
    return p / t if t > 0 else np.full(len(p), 1.0 / len(p))


def _quantise_numpy(shares: np.ndarray, total: int) -> list[int]:
    """Largest remainder, ties to the lower index, in numpy (the original arithmetic)."""
    t = np.sum(shares)
    raw = shares / t * total if t > 0 else np.full(len(shares), 1.0 / len(shares)) * total
    w = np.floor(raw)
    rem = raw - w
    out = [int(x) for x in w]
    for i in sorted(range(len(out)), key=lambda i: (-rem[i], i))[:total - sum(out)]:
        out[i] += 1
    return out


@pytest.mark.parametrize("n", range(1, N_MAX + 1))
def test_action_mapping_is_the_numpy_mapping(n):
    rng = np.random.default_rng(100 + n)
    for a in _vectors(rng, n, 2000):
        a = np.clip(a, -1.5, 1.5)
        ref = _shares_numpy(a)
        got = prefs_to_shares(a.tolist())
        assert np.array_equal(np.array(got), ref)
        for total in (2, 32, 100):
            assert quantise_shares(got, total) == _quantise_numpy(ref, total)


@pytest.mark.parametrize("cls", [InterleaveEnv, TieringEnv, JointEnv])
def test_delta_controls_are_the_numpy_ones(cls):
    """Delta mode moves the current controls by clipped amounts: np.clip's results."""
    env = cls(action_mode="delta")
    env.reset(seed=0)
    env.action_space.seed(0)
    for k in range(40):
        a = env.action_space.sample().astype(np.float64)
        if k % 3 == 0:
            a = np.sign(a)
        if cls is not TieringEnv:
            w0 = np.asarray(env.weights, float)
            shares = np.clip(w0 / w0.sum() + env.delta_scale * a[:env.nr_nodes], 0.0, None)
            want_w = _quantise_numpy(shares, env.weight_total)
        if cls is not InterleaveEnv:
            t0, b = dict(env.tier), a[-4:]
            want_bp = [int(round(float(np.clip(t0[name] + env.delta_scale * x * (hi - lo),
                                                       lo, hi))))
                       for name, x, (lo, hi) in (("free_bp", b[2], env.FREE_BP),
                                                 ("used_bp", b[3], env.USED_BP))]
        env.step(a)
        if cls is not TieringEnv:
            assert env.weights == want_w
        if cls is not InterleaveEnv:
            assert [env.tier["free_bp"], env.tier["used_bp"]] == want_bp


@pytest.mark.parametrize("cls", [InterleaveEnv, JointEnv])
def test_observation_sums_and_clip_are_numpys(cls):
    """The hot and weight shares use numpy's sums, and the clipped observation is numpy's
    nan_to_num / clip / float32 of the raw one."""
    env = cls()
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(20):
        env.step(env.action_space.sample())
        raw = observe.observation(env, clip=False)
        hot, _ = observe.hotness_by_node(env)
        w = np.asarray(env._weights(), dtype=np.float64)
        node = raw[: N_MAX * NF].reshape(N_MAX, NF)[: env.nr_nodes]
        if hot.sum() > 0:
            assert np.array_equal(node[:, 2], hot / np.sum(hot))
        assert np.array_equal(node[:, 9], w / np.sum(w))
        want = np.clip(np.nan_to_num(raw, nan=0.0), env.observation_space.low.astype(np.float64),
                       env.observation_space.high.astype(np.float64)).astype(np.float32)
        assert np.array_equal(observe.observation(env), want)
