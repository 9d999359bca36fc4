"""Every registered DamonGym id, in the pattern of Minigrid's tests/test_envs.py, and the
environment conventions RL users rely on."""

from __future__ import annotations

import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.envs import env_ids
from damon_gym.envs.observe import INFO_KEYS
from damon_gym.envs.spaces import GLOBAL_FEATURES, HIGH, LOW, N_MAX, NF, OBS_DIM, quantise_weights
from damon_gym.suites import load_suite

ALL_IDS = env_ids()
BASE_IDS = ["DamonGym/Interleave-v0", "DamonGym/Tiering-v0", "DamonGym/Joint-v0"]
SCENARIO_IDS = [i for i in ALL_IDS if i not in BASE_IDS]
SHORT = {"horizon": 5}

# Warnings we accept, each with its reason (HighwayEnv's allow-list pattern); any other
# warning fails the checks.
ALLOWED_WARNINGS = (
    # gymnasium's checker asks every env to pass reset(seed=...) determinism with the same
    # seed; we do, but the checker also warns generically about not calling super().reset in
    # some versions: none expected, kept empty on purpose.
)


def _no_unexpected_warnings(caught) -> None:
    bad = [str(w.message) for w in caught if not any(a in str(w.message) for a in ALLOWED_WARNINGS)]
    assert not bad, bad


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_gymnasium_check_env(env_id):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, **SHORT).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    _no_unexpected_warnings(caught)


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_sb3_check_env(env_id):
    from stable_baselines3.common.env_checker import check_env

    env = gym.make(env_id, **SHORT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, warn=True)
    _no_unexpected_warnings(caught)


def _rollout(env_id: str, seed: int, steps: int, **kw):
    env = gym.make(env_id, **kw)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards = []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return np.array(out), np.array(rewards)


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_same_seed_same_rollout_different_seed_differs(env_id):
    n = 50
    a_obs, a_rew = _rollout(env_id, 7, n, horizon=n)
    b_obs, b_rew = _rollout(env_id, 7, n, horizon=n)
    c_obs, _ = _rollout(env_id, 8, n, horizon=n)
    assert np.array_equal(a_obs, b_obs) and np.array_equal(a_rew, b_rew)
    assert not np.array_equal(a_obs, c_obs)


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_render_pickle_and_spec(env_id):
    env = gym.make(env_id, render_mode="rgb_array", **SHORT)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    text = gym.make(env_id, render_mode="ansi", **SHORT)
    text.reset(seed=0)
    assert "node" in text.render()
    clone = pickle.loads(pickle.dumps(env))
    a = env.unwrapped.step(np.zeros(env.action_space.shape, env.action_space.dtype))[0]
    b = clone.unwrapped.step(np.zeros(env.action_space.shape, env.action_space.dtype))[0]
    assert np.array_equal(a, b)
    spec = json.loads(env.spec.to_json())
    assert spec["id"] == env_id and isinstance(spec["kwargs"]["scenario"], str)


def _short_rollout_cases() -> list:
    """(id, replay) for every scenario id; replay (the same rollout again from the same seed)
    for one task in three per scenario, the task rotating over the scenarios: the three ids
    of a scenario run the same simulation and differ only in the task's schemes."""
    tasks = ("Interleave", "Tiering", "Joint")
    scenarios = sorted({i.split("/")[1].split("-", 1)[1] for i in SCENARIO_IDS})
    cases = []
    for env_id in SCENARIO_IDS:
        task, scenario = env_id.split("/")[1].split("-", 1)
        replay = tasks[scenarios.index(scenario) % 3] == task
        cases.append(pytest.param(env_id, replay, id=env_id))
    return cases


@pytest.mark.parametrize(("env_id", "replay"), _short_rollout_cases())
def test_every_scenario_id_plays_a_short_rollout(env_id, replay):
    """Every id registered for a shipped scenario makes (with the registered wrappers: the
    passive checker and the scenario's TimeLimit), names its scenario, and plays a step
    inside its spaces after the reset's warm-up; for one of the three ids of each scenario,
    the same again from the same seed. The full checks (gymnasium's and SB3's env checkers,
    50-step determinism, rendering, pickling) run on the base ids above: the scenario ids
    differ from them only in the scenario the same classes load."""
    from damon_gym.envs.registration import camel

    env = gym.make(env_id, horizon=1)
    name = env.spec.kwargs["scenario"]
    task = env_id.split("/")[1].split("-")[0]
    assert env_id == f"DamonGym/{task}-{camel(name)}-v0"
    assert json.loads(env.spec.to_json())["kwargs"]["scenario"] == name
    runs = []
    for _ in range(2 if replay else 1):
        env.action_space.seed(7)
        obs, info = env.reset(seed=7)
        assert info["scenario"] == name and env.observation_space.contains(obs)
        obs2, r, te, tr, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs2) and 0.0 <= r <= 1.0
        assert set(info) == set(INFO_KEYS) and not te and tr  # horizon 1
        runs.append((obs, obs2, r))
    if replay:
        assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_vector_parity_single_sync_async(env_id):
    """Gymnasium's SyncVectorEnv and AsyncVectorEnv (worker processes) of a DamonGym id give
    the single envs' trajectories for seeds s + i, bit for bit, through an autoreset (NEXT_STEP:
    the step after an episode ends returns the sub-environment's first observation)."""
    n, steps = 2, 7
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", horizon=3)
    asyn = gym.make_vec(env_id, num_envs=n, vectorization_mode="async", horizon=3)
    singles = [gym.make(env_id, horizon=3) for _ in range(n)]
    try:
        o_s, _ = sync.reset(seed=11)
        o_a, _ = asyn.reset(seed=11)
        o_1 = np.stack([e.reset(seed=11 + i)[0] for i, e in enumerate(singles)])
        assert np.array_equal(o_s, o_a) and np.array_equal(o_s, o_1)
        sync.action_space.seed(5)
        done = np.zeros(n, bool)
        resets = 0
        for _ in range(steps):
            acts = sync.action_space.sample()
            r_s = sync.step(acts)
            r_a = asyn.step(acts)
            for k in range(4):
                assert np.array_equal(r_s[k], r_a[k]), k
            for i, e in enumerate(singles):
                if done[i]:
                    o, _ = e.reset()
                    assert np.array_equal(o, r_s[0][i]) and r_s[1][i] == 0.0
                    done[i] = False
                    resets += 1
                else:
                    o, r, te, tr, _ = e.step(acts[i])
                    assert np.array_equal(o, r_s[0][i]) and r == r_s[1][i]
                    done[i] = te or tr
        assert resets == n  # every sub-environment went through one autoreset
    finally:
        asyn.close()


def test_sb3_vec_env_adapter_resets_in_the_same_step():
    from damon_gym.envs.vector import make_sb3_vec_env

    v = make_sb3_vec_env("DamonGym/Interleave-v0", 2, seed=3, horizon=2)
    obs = v.reset()
    assert obs.shape == (2, 101)
    first = gym.make("DamonGym/Interleave-v0", horizon=2).reset(seed=4)[0]
    assert np.array_equal(obs[1], first)  # sub-environment 1 was seeded with 3 + 1
    for _ in range(2):
        v.step_async(np.zeros((2, 9), np.float32))
        obs, rew, dones, infos = v.step_wait()
    assert dones.all()
    assert all(i["TimeLimit.truncated"] and i["terminal_observation"].shape == (101,) for i in infos)
    with pytest.raises(ValueError, match="num_envs: 0 must be an integer >= 1"):
        make_sb3_vec_env("DamonGym/Interleave-v0", 0)


@pytest.mark.parametrize("name", [s for s, _ in load_suite("smoke")])
@pytest.mark.parametrize("task", ["Interleave", "Tiering", "Joint"])
def test_observation_is_inside_its_box_before_clipping(task, name, monkeypatch):
    """After every step the observation as the step computed it, before observation() clips
    it into the Box, is finite and inside the bounds, and the returned observation is that
    vector (so the clip changed nothing); rewards are in [0, 1]. The raw vector is caught as
    the step computes it: calling observation(env, clip=False) after the step would read the
    tried/applied counters after the step has re-based them (indices 98 and 99 always 0).

    Four whole episodes per case (4 or 14 steps on the smoke scenarios) instead of 1,000
    random steps (71 to 250 resets of the same scenario, which revisit the same 4 to 14
    simulated seconds): the features that can reach their bounds (used and band bytes over
    capacity, migrated and applied bytes over M_cap, the quota over quota_max) reach them
    under extreme controls, so two episodes play random corners of the action box (every
    component -1 or +1: on two nodes, all the weight on one node half the time, switching
    back and forth at the top quota, the most churn an agent can cause) and two play uniform
    actions for the states in between (on these scenarios the corner episodes reach the
    quota and used-bytes bounds, 1.0, and five times the migrated bytes of uniform ones)."""
    from damon_gym.envs import observe
    from damon_gym.envs.registration import camel

    real, raws = observe.observation, []

    def keep_raw(env, clip=True):
        raws.append(real(env, clip=False))
        return real(env, clip=clip)

    monkeypatch.setattr(observe, "observation", keep_raw)
    env = gym.make(f"DamonGym/{task}-{camel(name)}-v0")
    env.action_space.seed(0)
    lo, hi = env.observation_space.low, env.observation_space.high
    steps = 0
    for episode, corners in enumerate((True, False, True, False)):
        env.reset(seed=episode)
        done = False
        while not done:
            a = env.action_space.sample()
            del raws[:]
            obs, r, te, tr, _ = env.step(np.sign(a) if corners else a)
            (raw,) = raws
            bad = np.flatnonzero(~(np.isfinite(raw) & (raw >= lo) & (raw <= hi)))
            assert bad.size == 0, {int(i): float(raw[i]) for i in bad}
            assert obs.dtype == np.float32 and np.array_equal(obs, raw.astype(np.float32))
            assert 0.0 <= r <= 1.0
            done = te or tr
            steps += 1
    assert steps == 4 * env.spec.max_episode_steps  # the episodes ran to their end


@pytest.mark.parametrize("bad", [np.full(9, np.nan), np.full(9, 1.5), np.zeros(8), "x",
                                 np.array([0, 0, 0, 0, 0, 0, 0, 0, np.inf])])
def test_bad_actions_give_a_clear_error(bad):
    env = gym.make("DamonGym/Interleave-v0", **SHORT)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(bad)


def test_multidiscrete_actions():
    env = gym.make("DamonGym/Interleave-v0", action_type="multidiscrete", levels=5, **SHORT)
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete)
    env.reset(seed=0)
    env.step(np.array([4, 0, 0, 0, 0, 0, 0, 0, 4]))
    assert env.unwrapped.weights == [32, 0]
    assert env.unwrapped.quota == 4 << 30  # the top level: quota_max
    with pytest.raises(ValueError, match="integers in 0..4"):
        env.unwrapped.step(np.array([5, 0, 0, 0, 0, 0, 0, 0, 0]))


def test_action_mapping_is_exact():
    env = gym.make("DamonGym/Interleave-v0", **SHORT).unwrapped
    env.reset(seed=0)
    a = np.zeros(9, np.float32)
    a[0], a[1], a[8] = 1.0, -0.5, -1.0  # shares 2 : 0.5 -> 25.6 : 6.4 -> 26:6
    env.step(a)
    assert env.weights == [26, 6] and sum(env.weights) == 32
    assert env.quota == 4 << 20
    s = env.sim.schemes()[0]
    assert s.dests == [(0, 26), (1, 6)] and s.quota.sz == 4 << 20
    # delta mode moves by at most delta_scale of the (log) range: (4 GiB / 4 MiB) ** 0.1 = 2x
    d = gym.make("DamonGym/Interleave-v0", action_mode="delta", **SHORT).unwrapped
    d.reset(seed=0)
    q0 = d.quota
    assert q0 == 128 << 20  # the middle of the log range
    d.step(np.ones(9, np.float32))
    assert d.quota == pytest.approx(2 * q0, abs=4096)
    d.step(-np.ones(9, np.float32))
    assert d.quota == pytest.approx(q0, abs=4096)


def test_quantised_weights_are_canonical():
    for shares in ([0.7, 0.3], [1, 1, 1], [0.5, 0.25, 0.25, 0], [3, 1]):
        w = quantise_weights(np.array(shares, float), 32)
        assert sum(w) == 32
        assert w == quantise_weights(np.array(shares, float) * 7, 32)  # same ratio, same vector


def test_reward_terms_sum_and_info_keys_are_stable():
    env = gym.make("DamonGym/Joint-v0", **SHORT)
    env.reset(seed=0)
    for _ in range(3):
        obs, r, te, tr, info = env.step(env.action_space.sample())
        assert r == pytest.approx(sum(info["rewards"].values()))
        p, c = info["rewards"]["perf_norm"], info["churn"]
        assert r == pytest.approx(p * (1 - env.unwrapped.beta * c))
        assert set(info) == set(INFO_KEYS)
        assert info["shares"].shape == (N_MAX,) and info["weights"].shape == (N_MAX,)
        assert info["X"] <= info["X_star"] * (1 + 1e-9)


def test_standard_wrappers_work():
    from gymnasium.wrappers import (
        FlattenObservation,
        NormalizeObservation,
        RecordEpisodeStatistics,
        TimeLimit,
    )

    flat = FlattenObservation(gym.make("DamonGym/Joint-v0", **SHORT))
    assert flat.observation_space.shape == (101,)
    assert flat.reset(seed=0)[0].shape == (101,)

    env = RecordEpisodeStatistics(TimeLimit(NormalizeObservation(gym.make("DamonGym/Interleave-v0")),
                                            max_episode_steps=3))
    env.reset(seed=0)
    for _ in range(3):
        *_, te, tr, info = env.step(env.action_space.sample())
    assert tr and "episode" in info


def _documented_bounds(text: str) -> dict[int, tuple[float, float]]:
    """{observation index: (min, max)} from the markdown tables of ``text``: rows keyed by a
    node feature ``j`` (the env docstrings, under a ``| j |`` header) or ``12n+j`` (README; 12 = NF)
    stand for every node block; rows keyed by a number under an ``| index |`` header are one
    index. A row documented twice fails."""
    out: dict[int, tuple[float, float]] = {}
    per_node = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.strip().startswith("|") or len(cells) < 4 or set(cells[0]) <= set("-: "):
            continue
        if cells[0] in ("j", "index"):
            per_node = cells[0] == "j"
            continue
        key = cells[0].replace(" ", "")
        bounds = (float(cells[2]), float(cells[3]))
        if key.startswith(f"{NF}n+"):
            idx = [NF * n + int(key.split("+")[1]) for n in range(N_MAX)]
        elif per_node:
            idx = [NF * n + int(key) for n in range(N_MAX)]
        else:
            idx = [int(key)]
        for i in idx:
            assert i not in out, f"index {i} documented twice"
            out[i] = bounds
    return out


@pytest.mark.parametrize("env_id", BASE_IDS)
def test_observation_bounds_are_documented(env_id):
    """The observation tables in each task's docstring (what gymnasium and the Farama docs
    show) and in README.md give every index exactly the Box's bounds."""
    from pathlib import Path

    assert LOW.shape == HIGH.shape == (OBS_DIM,) == (N_MAX * NF + len(GLOBAL_FEATURES),)
    want = {i: (float(LOW[i]), float(HIGH[i])) for i in range(OBS_DIM)}
    doc = type(gym.make(env_id, **SHORT).unwrapped).__doc__
    for heading in ("## Action Space", "## Observation Space", "## Version History"):
        assert heading in doc
    section = doc.split("## Observation Space", 1)[1].split("\n    ## ", 1)[0]
    assert f"({OBS_DIM},)" in section and f"``{NF} * n + j``" in section
    assert _documented_bounds(section) == want
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("**Observation**", 1)[1].split("`info` has stable keys", 1)[0]
    assert _documented_bounds(section) == want


def test_module_prefixed_id_works_in_subprocess_workers():
    """gym.make("damon_gym:DamonGym/...") imports the package (registering the ids) in each
    worker process of an AsyncVectorEnv; results equal the in-process ones."""
    env_id = "damon_gym:DamonGym/Interleave-v0"
    v = gym.make_vec(env_id, num_envs=2, vectorization_mode="async", horizon=3)
    try:
        o_async, _ = v.reset(seed=5)
        acts = np.zeros((2, 9), np.float32)
        r_async = v.step(acts)[1]
    finally:
        v.close()
    s = gym.make_vec("DamonGym/Interleave-v0", num_envs=2, vectorization_mode="sync", horizon=3)
    o_sync, _ = s.reset(seed=5)
    assert np.array_equal(o_async, o_sync)
    assert np.array_equal(r_async, s.step(acts)[1])
