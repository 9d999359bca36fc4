"""The reward's churn charge (docs/reward.md): ``churn = min(churn_cap, migrated / M_cap)``.
``beta``, ``m_cap_bytes`` and ``churn_cap`` change the reward only, never what the agent
observes, so a model trained with another charge plays the task's own envs unchanged."""

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401

MiB, GiB = 1 << 20, 1 << 30


def _play(steps=12, **kwargs):
    """A few Interleave steps whose action moves the weights to the slow node with the quota
    at its maximum, so the first steps migrate GiBs (well above 200 MiB)."""
    env = gym.make("DamonGym/Interleave-v0", **kwargs)
    obs, _ = env.reset(seed=1)
    a = np.ones(env.action_space.shape, dtype=np.float32)  # quota at 4 GiB
    a[0] = -1.0  # no weight on node 0: hot pages go to the other node
    out = [obs]
    infos = []
    for _ in range(steps):
        obs, r, _, _, info = env.step(a)
        out.append(obs)
        infos.append((r, info))
    env.close()
    return out, infos


def test_churn_cap_none_charges_every_byte_and_the_observation_ignores_the_charge():
    obs_d, steps_d = _play()
    obs_l, steps_l = _play(churn_cap=None)
    obs_m, steps_m = _play(churn_cap=None, m_cap_bytes=4 * GiB, beta=1.0)
    # the same machine, the same moves, the same observations
    for a, b, c in zip(obs_d, obs_l, obs_m, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    big = [i for i, (_, info) in enumerate(steps_d) if info["migrated_bytes"] > 400 * MiB]
    assert big, "the action should migrate more than 2 M_cap in some step"
    for (r_d, i_d), (r_l, i_l), (r_m, i_m) in zip(steps_d, steps_l, steps_m, strict=True):
        moved, p = i_d["migrated_bytes"], i_d["perf_norm"]
        assert i_l["migrated_bytes"] == moved and i_l["perf_norm"] == p == i_m["perf_norm"]
        assert i_d["churn"] == min(1.0, moved / (200 * MiB))
        assert i_l["churn"] == moved / (200 * MiB)  # no cap: grows with every byte
        assert i_m["churn"] == moved / (4 * GiB)
        assert r_d == pytest.approx(p * (1 - 0.2 * i_d["churn"]), abs=1e-12)
        assert r_l == pytest.approx(p * (1 - 0.2 * i_l["churn"]), abs=1e-12)
        assert r_m == pytest.approx(p * (1 - i_m["churn"]), abs=1e-12)
    for i in big:  # above 2 M_cap the capped charge is flat, the uncapped one is not
        assert steps_d[i][1]["churn"] == 1.0 and steps_l[i][1]["churn"] > 2.0
        assert steps_l[i][0] < steps_d[i][0]


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "1"])
def test_churn_cap_out_of_range_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="churn_cap"):
        gym.make("DamonGym/Interleave-v0", churn_cap=bad)
