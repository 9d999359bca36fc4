"""The baseline agents (agents/registry.py, agents/baselines.py, agents/damos_baselines.py):
every agent on every smoke episode of every task, the registry's errors, and the orderings
the performance model implies on the anchors ([PM 2.4, 3])."""

from __future__ import annotations

import inspect
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.agents.registry import (
    AGENTS,
    REAL_INFO,
    agent_names,
    allocation_mempolicy,
    make_agent,
)
from damon_gym.build import scenario_topology
from damon_gym.scenario import load_scenario
from damon_gym.suites import load_suite

TASKS = ("Interleave", "Tiering", "Joint")
SCENARIOS = Path(__file__).resolve().parents[1] / "configs" / "scenarios"
GROUND_TRUTH = ("f_star", "shares", "X_star")


def _env(task: str, scenario, **kw):
    return gym.make(f"DamonGym/{task}-v0", scenario=scenario, disable_env_checker=True, **kw)


def _play(env, agent, seed: int = 0) -> tuple[float, float, list[np.ndarray]]:
    """(mean reward, mean perf_norm, actions) of one episode."""
    agent.reset(seed)
    obs, info = env.reset(seed=seed)
    rewards, perf, actions, done = [], [], [], False
    while not done:
        a = agent.act(obs, info)
        actions.append(np.asarray(a))
        obs, r, term, trunc, info = env.step(a)
        rewards.append(r)
        perf.append(info["perf_norm"])
        done = term or trunc
    return float(np.mean(rewards)), float(np.mean(perf)), actions


#: the phase oracle plays a grid of constants (21 for Joint) over the whole episode before its
#: first step, so its cost is the grid times the episode length: cut its smoke episodes at two
#: steps (the plan's first action and one after it). The smoke scenarios have no phase change
#: (checked below), so a longer episode plays the same one-phase schedule for longer.
PHASE_ORACLE_HORIZON = 2


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", agent_names())
def test_every_agent_plays_every_smoke_episode_inside_the_action_space(name, task):
    kw = {"horizon": PHASE_ORACLE_HORIZON} if name == "phase-oracle" else {}
    for scenario, seed in load_suite("smoke", task=task):
        env = _env(task, scenario, **kw)
        _, _, actions = _play(env, make_agent(name, env), seed)
        assert actions
        if name == "phase-oracle":
            assert len(actions) == PHASE_ORACLE_HORIZON and not env.unwrapped.phase_times()
        for a in actions:
            assert a.dtype == np.float32 and env.action_space.contains(a), (name, scenario, a)


def test_every_agent_documents_its_source_and_what_it_reads():
    for name in agent_names():
        env = _env("Interleave", "smoke-gups")
        agent = make_agent(name, env)
        doc = inspect.getdoc(type(agent)) or ""
        entry = AGENTS[name]
        assert entry.summary and entry.reads, name
        if name.startswith(("b", "recipe")) and name != "bandwidth-weights" and not entry.oracle:
            assert "Reads" in doc and "[" in doc, (name, "cite a source tag and say what it reads")
            # a real-system baseline names no ground truth among what it reads
            reads = doc[doc.index("Reads"):]
            assert not any(f'info["{k}"]' in reads for k in GROUND_TRUTH), name
            assert all(k in REAL_INFO for k in _info_keys(reads)), name
        if entry.oracle:
            assert "ground truth" in entry.reads


def _info_keys(text: str) -> list[str]:
    import re

    return re.findall(r'info\["(\w+)"\]', text)


@pytest.mark.parametrize("spec, words", [
    ("nope", ["'nope'", "b4-colloid", "instant-oracle"]),
    ("b4-colloid:3", ["takes no argument", "b3-caption:ARG"]),
    ("b3-caption:", ["empty argument"]),
    ("b3-caption:soon", ["b3-caption:soon", "epoch in seconds"]),
])
def test_make_agent_errors_name_the_allowed_agents(spec, words):
    env = _env("Interleave", "smoke-gups")
    with pytest.raises(ValueError) as e:
        make_agent(spec, env)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_specs_and_policy_checks():
    from damon_gym.agents.registry import check_policy

    assert check_policy("b3-caption:5") == "b3-caption:5"
    with pytest.raises(ValueError, match="'nope'"):
        check_policy("nope")
    env = _env("Interleave", "smoke-gups")
    assert type(make_agent("b3-caption:5", env)).__name__ == "CaptionAgent"
    agent = make_agent("b3-caption:5", env)
    agent.act(*env.reset(seed=0))
    assert agent.epoch_steps == 5


def test_damon_gym_agents_lists_every_name(capsys):
    from damon_gym.cli import main

    assert main(["agents"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == agent_names()
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)


# -- the orderings the model implies on the anchors -----------------------------------------------
def _allocated(tmp_path: Path, scenario: str, agent: str) -> str:
    """``scenario`` allocated by the policy the allocation-time baseline stands for."""
    topo = scenario_topology(load_scenario(scenario))
    mp = allocation_mempolicy(agent, topo)
    p = tmp_path / f"{scenario}-{agent}.yaml"
    p.write_text(yaml.safe_dump({"extends": str(SCENARIOS / f"{scenario}.yaml"),
                                 "name": f"{scenario}-{agent}",
                                 "workload": {"params": {"mempolicy": mp}}}))
    return str(p)


def _perf(task: str, scenario: str, agent: str, horizon: int = 8) -> float:
    env = _env(task, scenario, horizon=horizon)
    return _play(env, make_agent(agent, env))[1]


def test_b2_beats_b1_by_a_wide_margin_on_bandwidth_bound_stream(tmp_path):
    """STREAM on P1-SPR, each allocated by its own policy (the anchors' 1:1 and 28:3):
    [PM 2.4 check 1] measured 45-49 vs 190-218 GB/s (-78 %); ask for 3x."""
    b1 = _perf("Interleave", _allocated(tmp_path, "anchor1-stream-spr-dram", "b1-interleave"),
               "b1-interleave")
    b2 = _perf("Interleave", _allocated(tmp_path, "anchor1-stream-spr-dram", "b2-bw-weights"),
               "b2-bw-weights")
    assert b2 > 3.0 * b1 and b2 > 0.9, (b1, b2)
    # the anchors' own placements agree
    assert _perf("Interleave", "anchor1-stream-spr-28to3", "b2-bw-weights") > 3.0 * _perf(
        "Interleave", "anchor1-stream-spr-1to1", "b1-interleave")


def test_b0_beats_b2_when_latency_bound(tmp_path):
    """GUPS on P2 without background (anchor3 0x, latency-bound): all-local first touch
    beats the bandwidth-weighted interleave (the optimum keeps ~97 % on the fast node)."""
    b0 = _perf("Interleave", "anchor3-gups-p2-0x", "b0-first-touch")
    b2 = _perf("Interleave", _allocated(tmp_path, "anchor3-gups-p2-0x", "b2-bw-weights"),
               "b2-bw-weights")
    assert b0 > b2 + 0.01, (b0, b2)


@pytest.mark.parametrize("scenario", ["anchor3-gups-p2-2x", "anchor3-gups-p2-3x"])
def test_colloid_is_within_6_percent_of_the_instant_oracle(scenario):
    env = _env("Interleave", scenario)
    b4_r, b4_p, _ = _play(env, make_agent("b4-colloid", env))
    o_r, o_p, _ = _play(env, make_agent("instant-oracle", env))
    assert b4_r >= 0.94 * o_r and b4_p >= 0.94 * o_p, (b4_r, b4_p, o_r, o_p)


#: how far an agent's mean perf_norm may lie above the instant oracle's on an anchor episode:
#: the oracle migrates at the maximum quota whenever the optimum is off, and its copy traffic
#: and kdamond time cost X in those steps ([PM 2.7]; the largest such loss seen on
#: the anchors is 1.4 % of the episode mean, anchor3-gups-p2-3x). Its reward additionally pays
#: beta * churn per step, so rewards are compared with that churn credited back.
ORACLE_TOLERANCE = 0.02


ANCHOR_HORIZON = 6


@pytest.mark.parametrize("task, scenario, seed", [
    (task, sc, seed) for task in ("Interleave", "Tiering")
    for sc, seed in load_suite("anchors", task=task)])
def test_the_instant_oracle_bounds_every_agent_on_the_anchors(task, scenario, seed):
    names = [n for n in agent_names() if n not in ("instant-oracle", "phase-oracle")]
    env = _env(task, scenario, horizon=ANCHOR_HORIZON)
    oracle = make_agent("instant-oracle", env)
    oracle.reset(seed)
    obs, info = env.reset(seed=seed)
    o_perf, o_reward, o_churn, done = [], [], [], False
    while not done:
        obs, r, term, trunc, info = env.step(oracle.act(obs, info))
        o_perf.append(info["perf_norm"])
        o_reward.append(r)
        o_churn.append(info["churn"])
        done = term or trunc
    beta = env.unwrapped.beta
    for name in names:
        r, p, _ = _play(env, make_agent(name, env), seed)
        assert p <= np.mean(o_perf) + ORACLE_TOLERANCE, (name, p, np.mean(o_perf))
        assert r <= np.mean(o_reward) + beta * np.mean(o_churn) + ORACLE_TOLERANCE, (
            name, r, np.mean(o_reward))
