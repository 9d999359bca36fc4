"""Episodes of the DamonGym envs: their length and end, idle steps, registration, which
episode a reset plays (seeds, options, suites with task filters), and the scenario's DAMON
parameters standing with the task's schemes added."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.envs.recipes import RecipeError
from damon_gym.envs.registration import camel
from damon_gym.scenario import SCENARIO_DIR, load_scenario, scenario_names
from damon_gym.suites import load_suite, suite_scenarios

TASKS = ("Interleave", "Tiering", "Joint")


def _play(env, action=None, seed=0, options=None):
    """Reset and step until the episode ends; (reset info, step infos, rewards, end flags)."""
    _, info0 = env.reset(seed=seed, options=options)
    a = np.zeros(env.action_space.shape, env.action_space.dtype) if action is None else action
    infos, rewards, ends = [], [], []
    while True:
        _, r, term, trunc, info = env.step(a)
        infos.append(info)
        rewards.append(r)
        ends.append((term, trunc))
        if term or trunc:
            return info0, infos, rewards, ends


def _expected_steps(duration_s: float, workload_end_s: float, step_s: float = 1.0,
                    horizon: int = 300) -> int:
    """min(horizon, floor(T / step_s) - 1), T = min(scenario duration, workload end)."""
    t = min(duration_s, workload_end_s)
    return min(horizon, math.floor(t / step_s) - 1)


# -- (a) length and end --------------------------------------------------------------------------
def test_smoke_gups_episode_is_four_steps():
    """smoke-gups: 5 s (its GUPS workload runs for an hour), so 5 / 1 - 1 = 4 steps: the
    reset's warm-up interval is the first of the five."""
    env = gym.make("DamonGym/Interleave-SmokeGups-v0")
    _, infos, _, ends = _play(env)
    assert len(infos) == 4 == env.unwrapped.max_steps
    assert ends[:-1] == [(False, False)] * 3 and ends[-1] == (False, True)
    assert [i["time_s"] for i in infos] == [2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(("horizon", "step_s", "want"), [(2, 1.0, 2), (300, 2.0, 1), (3, 0.5, 3),
                                                         (300, 0.5, 9)])
def test_episode_length_is_min_of_horizon_and_scenario(horizon, step_s, want):
    # the id's registered TimeLimit counts 1 s steps of smoke-gups (4); lifted here so that
    # the env's own truncation is what ends the episode
    env = gym.make("DamonGym/Tiering-SmokeGups-v0", horizon=horizon, step_s=step_s,
                   max_episode_steps=10_000)
    sc = load_scenario("smoke-gups")
    assert want == _expected_steps(sc.duration_us / 1e6, 3600.0, step_s, horizon)
    _, infos, _, ends = _play(env)
    assert len(infos) == want and ends[-1][1]
    assert infos[-1]["time_s"] <= 5.0 + 1e-9


IDLE = {  # 9 s of workload (3 s busy, 3 s idle, 3 s busy) in a 20 s scenario
    "name": "idle-gap", "topology": "tiny",
    "workload": {"generator": "phased", "params": {
        "size": "64 MiB", "total_rate": 1.0e6, "phases": [
            {"duration_s": 3, "hot_fraction": 0.2},
            {"duration_s": 3, "rate": 0},
            {"duration_s": 3, "hot_fraction": 0.2}]}},
    "duration": 20,
}


@pytest.mark.parametrize("task", TASKS)
def test_episode_ends_with_the_workload_and_idle_steps_score_zero(task):
    """T is the workload's end (9 s) when it comes before the scenario's (20 s): 8 steps, the
    last ending at 9 s, so no perf_norm comes from after the workload. A step whose interval
    lies in the idle phase [3 s, 6 s) has perf_norm 0 (nothing achieved; X* is 0 there, and
    X / X* must not read as 1), reward 0 and X 0; the busy steps score."""
    env = gym.make(f"DamonGym/{task}-v0", scenario=IDLE)
    _, infos, rewards, _ = _play(env)
    assert len(infos) == _expected_steps(20, 9) == 8
    assert max(i["time_s"] for i in infos) <= 9.0
    for info, r in zip(infos, rewards, strict=True):
        lo, hi = info["time_s"] - 1.0, info["time_s"]
        if 3.0 <= lo and hi <= 6.0:
            assert info["perf_norm"] == 0.0 and r == 0.0, info["time_s"]
            assert info["X"] == 0.0 and info["X_star"] == 0.0
            assert info["rewards"] == {"perf_norm": 0.0, "churn_penalty": 0.0}
        else:
            assert info["perf_norm"] > 0.3, info["time_s"]
    idle = [i["time_s"] for i in infos if i["perf_norm"] == 0.0]
    assert idle == [4.0, 5.0, 6.0]
    assert env.unwrapped.sim.workload.phases[1].total_rate() == 0.0  # the idle phase


def test_idle_step_perf_is_undefined_in_the_model_not_one():
    env = gym.make("DamonGym/Interleave-v0", scenario=IDLE)
    env.reset(seed=0)
    for _ in range(3):  # steps ending at 2, 3, 4 s
        env.step(np.zeros(env.action_space.shape, np.float32))
    assert env.unwrapped.sim.now_us == 4_000_000  # the step of [3 s, 4 s]: idle
    perf = env.unwrapped.sim.last_perf
    assert perf.X == 0.0 and perf.X_star == 0.0
    assert math.isnan(perf.perf)


# -- (b) registration ---------------------------------------------------------------------------
def test_registered_max_episode_steps():
    for task in TASKS:
        assert gym.spec(f"DamonGym/{task}-v0").max_episode_steps == 300  # 301 s defaults
    assert gym.spec("DamonGym/Interleave-SmokeGups-v0").max_episode_steps == 4
    assert gym.spec("DamonGym/Tiering-SmokeZigzag-v0").max_episode_steps == 14  # 15 s
    assert gym.spec("DamonGym/Joint-TaobenchTiny-v0").max_episode_steps == 59  # 60 s
    # every scenario id: min(300, duration / 1 s - 1) from the scenario's own duration; a
    # scenario whose damon block already migrates (the tasks refuse it) has no task ids
    from damon_gym.envs.registration import scenarios_with_migration

    own = scenarios_with_migration()
    assert own and own < set(scenario_names())
    for name in scenario_names():
        d = load_scenario(name).duration_us / 1e6
        for task in TASKS:
            if name in own:
                assert f"DamonGym/{task}-{camel(name)}-v0" not in gym.registry
                continue
            spec = gym.spec(f"DamonGym/{task}-{camel(name)}-v0")
            assert spec.max_episode_steps == min(300, math.floor(d) - 1), (name, task)


def test_registered_limit_and_env_truncation_agree():
    env = gym.make("DamonGym/Joint-SmokeStream-v0")  # with gymnasium's TimeLimit
    _, infos, _, ends = _play(env)
    assert len(infos) == env.spec.max_episode_steps == env.unwrapped.max_steps == 4
    assert ends[-1] == (False, True)


# -- (c) which episode a reset plays ----------------------------------------------------------------
@pytest.mark.parametrize("k", [3, 1000])
def test_reset_seed_plays_the_scenarios_episode_k(k, tmp_path):
    env = gym.make("DamonGym/Interleave-GupsP2Rand-v0")
    _, info = env.reset(seed=k)
    want = load_scenario("gups-p2-rand").resolved(k).content_hash()
    assert info["scenario_hash"] == want == env.unwrapped.scenario.content_hash()
    assert env.unwrapped.sim.seed == k
    # a suite's (gups-p2-rand, k) episode is that one
    path = tmp_path / "one.yaml"
    path.write_text(f"entries:\n  - {{scenario: gups-p2-rand, seeds: [{k - 1}, {k}]}}\n")
    suite = {(s.name, s.seed): s.content_hash() for s in suite_scenarios(path)}
    assert suite[("gups-p2-rand", k)] == want != suite[("gups-p2-rand", k - 1)]
    # another seed is another (randomised) episode; the same seed the same one
    _, other = env.reset(seed=k + 1)
    assert other["scenario_hash"] != want
    _, again = env.reset(seed=k)
    assert again["scenario_hash"] == want


def test_reset_options_play_that_scenario():
    env = gym.make("DamonGym/Interleave-GupsP2Rand-v0")
    _, info = env.reset(options={"scenario": "smoke-stream", "seed": 3})
    assert info["scenario"] == "smoke-stream"
    assert info["scenario_hash"] == load_scenario("smoke-stream").resolved(3).content_hash()
    assert env.unwrapped.sim.seed == 3
    assert env.unwrapped.max_steps == 4  # the option's scenario decides the length too
    # a YAML path works; the seed defaults to the scenario's own (0)
    path = str((SCENARIO_DIR / "smoke-gups.yaml").resolve())
    _, info = env.reset(options={"scenario": path})
    assert info["scenario"] == "smoke-gups"
    assert info["scenario_hash"] == load_scenario("smoke-gups").content_hash()
    _, info = env.reset(options={"scenario": path, "seed": 5})
    assert info["scenario_hash"] == load_scenario(path).resolved(5).content_hash()
    assert info["scenario_hash"] != load_scenario("smoke-gups").content_hash()


def test_reset_refuses_unknown_option_keys_and_negative_seeds():
    env = gym.make("DamonGym/Interleave-SmokeGups-v0")
    with pytest.raises(ValueError, match="frobnicate"):
        env.reset(options={"scenario": "smoke-gups", "frobnicate": 1})
    with pytest.raises(ValueError, match=r"options\['seed'\]"):
        env.reset(options={"seed": -1})
    with pytest.raises(ValueError, match=r"options\['seed'\]"):
        env.reset(options={"scenario": "smoke-gups", "seed": -2})
    with pytest.raises((ValueError, gym.error.Error)):
        env.reset(seed=-1)
    # the env still works after the refusals
    _, info = env.reset(seed=1)
    assert info["scenario"] == "smoke-gups"


# -- (d) suites -----------------------------------------------------------------------------------
def test_suite_env_draws_the_suites_entries():
    env = gym.make("DamonGym/Interleave-v0", suite="smoke")
    entries = {(s.name, s.content_hash()) for s in suite_scenarios("smoke", task="Interleave")}
    assert len(entries) == 3
    drawn = {}
    for seed in range(12):
        _, info = env.reset(seed=seed)
        pair = (info["scenario"], info["scenario_hash"])
        assert pair in entries
        assert env.unwrapped.max_steps == env.unwrapped.episode_steps(
            env.unwrapped.scenario, env.unwrapped.sim.workload.duration_s)
        drawn[seed] = pair
    assert len(set(drawn.values())) >= 2  # different seeds draw different entries
    for seed in (0, 5, 11):  # the same seed draws the same entry
        _, info = env.reset(seed=seed)
        assert (info["scenario"], info["scenario_hash"]) == drawn[seed]
    # options on a suite env: a seed alone is refused, a scenario with a seed plays it
    with pytest.raises(ValueError, match="suite"):
        env.reset(options={"seed": 1})
    _, info = env.reset(options={"scenario": "smoke-gups", "seed": 0})
    assert info["scenario"] == "smoke-gups"


def test_suite_entries_are_filtered_by_task(tmp_path):
    path = tmp_path / "tiering-only.yaml"
    path.write_text("name: tiering-only\n"
                    "entries:\n"
                    "  - {scenario: smoke-gups, seeds: [4], tasks: [Tiering]}\n")
    assert load_suite(path) == [("smoke-gups", 4)]
    assert load_suite(path, task="Tiering") == [("smoke-gups", 4)]
    assert load_suite(path, task="Interleave") == []
    with pytest.raises(ValueError, match="Interleave"):
        gym.make("DamonGym/Interleave-v0", suite=str(path))
    env = gym.make("DamonGym/Tiering-v0", suite=str(path))
    _, info = env.reset(seed=0)
    assert info["scenario"] == "smoke-gups"
    assert info["scenario_hash"] == load_scenario("smoke-gups").resolved(4).content_hash()
    # a mixed suite: the Interleave env keeps only the entry meant for every task
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("entries:\n"
                     "  - {scenario: smoke-gups, seeds: [4], tasks: [Tiering, Joint]}\n"
                     "  - {scenario: smoke-stream, seeds: [1]}\n")
    env = gym.make("DamonGym/Interleave-v0", suite=str(mixed))
    for seed in range(6):
        _, info = env.reset(seed=seed)
        assert (info["scenario"], env.unwrapped.sim.seed) == ("smoke-stream", 1)


# -- (e) the scenario's DAMON parameters stand --------------------------------------------------------
def test_interleave_keeps_the_scenarios_vaddr_context_and_its_intervals_goal():
    sc = load_scenario("ycsb-amd")
    ctx_doc = sc.damon["kdamonds"][0]["contexts"][0]
    assert ctx_doc["ops"] == "vaddr" and ctx_doc["schemes"] == []
    env = gym.make("DamonGym/Interleave-YcsbAmd-v0")
    env.reset(seed=0)
    sim = env.unwrapped.sim
    assert [len(kd.contexts) for kd in sim.params.kdamonds] == [1]  # no context added
    cp = sim.params.kdamonds[0].contexts[0]
    goal = cp.intervals.intervals_goal
    assert (goal.access_bp, goal.aggrs, goal.min_sample_us, goal.max_sample_us) == (
        400, 3, 5_000, 10_000_000)
    (b,) = sim.bindings
    assert b.ops == "vaddr"
    assert b.context.attrs.intervals_goal.access_bp == 400
    assert b.context.attrs.intervals_goal.max_sample_us == 10_000_000
    # the task's scheme is appended there, at its starting controls
    assert [s.action for s in cp.schemes] == ["migrate_hot"]
    (s,) = b.context.schemes.schemes
    assert s.action == "migrate_hot" and [d for d, _ in s.dests] == [0, 1]
    assert env.unwrapped.scheme("interleave") is s


def test_tiering_puts_its_schemes_in_the_scenarios_paddr_contexts():
    env = gym.make("DamonGym/Tiering-TaobenchTiny-v0")
    env.reset(seed=0)
    sim = env.unwrapped.sim
    assert [len(kd.contexts) for kd in sim.params.kdamonds] == [1, 1]  # none added
    assert [b.ops for b in sim.bindings] == ["paddr", "paddr"]
    mem = sim.memory
    by_node = {}
    for b in sim.bindings:
        (t,) = b.context.targets
        rng = (int(t.regions.start[0]), int(t.regions.end[-1]))
        node = [n for n in range(2) if tuple(int(x) for x in mem.node_phys_range(n)) == rng]
        assert len(node) == 1, rng  # each context monitors one whole node
        by_node[node[0]] = b
        assert b.context.attrs.intervals_goal.access_bp == 400  # the scenario's auto-tuning
    demote, = by_node[0].context.schemes.schemes
    promote, = by_node[1].context.schemes.schemes
    assert (demote.action, demote.target_nid) == ("migrate_cold", 1)
    assert (promote.action, promote.target_nid) == ("migrate_hot", 0)
    assert env.unwrapped.scheme("demote") is demote
    assert env.unwrapped.scheme("promote") is promote


def _with_damon_schemes(actions: list[str]) -> dict:
    schemes = [{"action": a, "target_nid": 1,
                "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"},
                                   "nr_accesses": {"min": "0 %", "max": "max"},
                                   "age": {"min": "0 ns", "max": "max"}},
                "apply_interval_us": "1 s", "filters": []} for a in actions]
    ctx = {"ops": "vaddr", "targets": [],
           "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
           "nr_regions": {"min": 10, "max": 1000}, "schemes": schemes}
    return {"name": "with-schemes", "topology": "tiny",
            "workload": {"preset": "gups", "params": {"size": "64 MiB"}}, "duration": 5,
            "damon": {"kdamonds": [{"contexts": [ctx]}]}}


@pytest.mark.parametrize("task", TASKS)
def test_a_scenario_that_already_migrates_is_refused_naming_the_scheme(task):
    sc = _with_damon_schemes(["stat", "migrate_hot"])
    with pytest.raises(RecipeError, match=r"kdamonds\[0\]\.contexts\[0\]\.schemes\[1\]"):
        gym.make(f"DamonGym/{task}-v0", scenario=sc)
    assert issubclass(RecipeError, ValueError)


def test_a_scenarios_stat_scheme_stays_before_the_tasks_scheme():
    env = gym.make("DamonGym/Interleave-v0", scenario=_with_damon_schemes(["stat"]))
    env.reset(seed=0)
    (b,) = env.unwrapped.sim.bindings
    assert [s.action for s in b.context.schemes.schemes] == ["stat", "migrate_hot"]
    assert env.unwrapped.scheme("interleave") is b.context.schemes.schemes[1]
