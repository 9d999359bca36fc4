"""Training (issue 12): the node-set policy, ``damon-gym train``, learned agents, rl-zoo3's
reading of the hyperparameter files and Ray Tune trials. Training runs are short (a few
thousand steps on the smoke scenarios) and seeded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)

pytest.importorskip("stable_baselines3")
th = pytest.importorskip("torch")

from damon_gym.envs.spaces import N_MAX, NF  # noqa: E402
from damon_gym.training.policies import (  # noqa: E402
    NodeSetExtractor,
    NodeSetPolicy,
    NodeSetSACPolicy,
)

REPO = Path(__file__).resolve().parents[1]


def _obs(task: str, scenario: str, seed: int) -> np.ndarray:
    env = gym.make(f"DamonGym/{task}-v0", scenario=scenario, disable_env_checker=True).unwrapped
    obs, _ = env.reset(seed=seed)
    obs, *_ = env.step(env.action_space.sample() * 0)
    return obs


def _permute_nodes(obs: np.ndarray, order: list[int]) -> np.ndarray:
    """``obs`` with node blocks 0..len(order)-1 reordered (block i takes block order[i])."""
    out = obs.copy()
    for i, j in enumerate(order):
        out[i * NF:(i + 1) * NF] = obs[j * NF:(j + 1) * NF]
    return out


def _model(algo: str, task: str = "Interleave"):
    from stable_baselines3 import PPO, SAC

    env = gym.make(f"DamonGym/{task}-v0", disable_env_checker=True)
    th.manual_seed(0)
    if algo == "sac":
        return SAC(NodeSetSACPolicy, env, seed=0, device="cpu", learning_starts=10)
    return PPO(NodeSetPolicy, env, seed=0, device="cpu", n_steps=16, batch_size=16)


def _learned(algo: str, path, env):
    """A learned agent (agents/ is being moved to damon_gym.agents: either layout)."""
    try:
        from damon_gym.agents.learned import LearnedAgent
    except ImportError:
        from agents.learned import LearnedAgent
    return LearnedAgent(algo, path, env)


def _mean_action(model, obs: np.ndarray) -> np.ndarray:
    a, _ = model.predict(obs, deterministic=True)
    return np.asarray(a)


# -- the node-set policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ppo", "sac"])
@pytest.mark.parametrize("scenario,nodes", [("interleave-default", 2),
                                            ("interleave-p3-rand", 3),
                                            ("joint-4node-rand", 4)])
def test_set_policy_runs_on_any_node_count(algo, scenario, nodes):
    """One model (built for the 2-node default machine) acts on 2-, 3- and 4-node machines:
    a preference for every existing node, ``-1`` (no share) at the absent slots, and the
    preferences follow the nodes when their order changes (a shared per-node head)."""
    model = _model(algo)
    obs = _obs("Interleave", scenario, 1000)
    assert obs[np.arange(N_MAX) * NF].sum() == nodes
    a = _mean_action(model, obs)
    assert a.shape == (N_MAX + 1,) and np.isfinite(a).all()
    assert np.all(a[nodes:N_MAX] <= -0.99), a  # absent slots
    assert np.all(a[:nodes] > -0.9), a  # existing nodes get a real preference
    order = list(range(nodes))[::-1]
    b = _mean_action(model, _permute_nodes(obs, order))
    np.testing.assert_allclose(b[:nodes], a[order], atol=1e-5)
    np.testing.assert_allclose(b[N_MAX:], a[N_MAX:], atol=1e-5)  # the quota: order-free


def test_set_extractor_honours_the_mask():
    """What sits in an absent slot's features does not reach the output; flipping a mask bit
    does."""
    space = gym.spaces.Box(-np.inf, np.inf, (N_MAX * NF + 5,), np.float32)
    fe = NodeSetExtractor(space, output="context")
    obs = th.as_tensor(_obs("Interleave", "interleave-default", 0))[None]
    junk = obs.clone()
    junk[0, 3 * NF + 1: 4 * NF] = 0.7  # slot 3 does not exist (mask 0)
    assert th.allclose(fe(obs), fe(junk))
    shown = junk.clone()
    shown[0, 3 * NF] = 1.0
    assert not th.allclose(fe(obs), fe(shown))


def test_set_extractor_refuses_other_observations():
    with pytest.raises(ValueError, match="observation space"):
        NodeSetExtractor(gym.spaces.Box(0, 1, (10,), np.float32))
    space = gym.spaces.Box(0, 1, (N_MAX * NF + 5,), np.float32)
    with pytest.raises(ValueError, match="node_dim"):
        NodeSetExtractor(space, node_dim=0)


@pytest.mark.parametrize("task,dim", [("Tiering", 4), ("Joint", N_MAX + 5)])
def test_set_policy_other_tasks(task, dim):
    """Tiering has no per-node action (all from the context); Joint's first 8 are per node."""
    model = _model("ppo", task)
    obs = _obs(task, "joint-4node-rand" if task == "Joint" else "tiering-default", 1000)
    a = _mean_action(model, obs)
    assert a.shape == (dim,) and np.isfinite(a).all()
    if task == "Joint":
        assert np.all(a[4:N_MAX] <= -0.99) and np.all(a[:4] > -0.9)


# -- damon-gym train ------------------------------------------------------------------------------
def _config(tmp: Path, name: str = "ppo.yml", **extra) -> Path:
    """A small PPO config for the smoke runs (rl-zoo3's format)."""
    hp = {"n_envs": 2, "n_timesteps": 128,
          "policy": "damon_gym.training.policies.NodeSetPolicy",
          "normalize": "dict(norm_obs=False, norm_reward=True)", "n_steps": 64,
          "batch_size": 64, "n_epochs": 4, "gamma": 0.95, "learning_rate": 3e-3,
          "policy_kwargs": "dict(log_std_init=-0.5)"}
    hp.update(extra)
    import yaml

    p = tmp / name
    p.write_text(yaml.safe_dump({"DamonGym/Interleave-v0": hp}))
    return p


def _suite(tmp: Path, scenario: str, seeds: list[int]) -> str:
    p = tmp / f"suite-{scenario}.yaml"
    p.write_text(json.dumps({"name": "t", "entries": [{"scenario": scenario, "seeds": seeds}]}))
    return str(p)


def _run(tmp: Path, out: Path, **kw):
    from damon_gym.training.train import TrainRun

    args = dict(task="Interleave", algo="ppo", out=out, suite="smoke", eval_suite="smoke",
                eval_freq=0, eval_episodes=1, checkpoint_freq=64, progress=False)
    args.update(kw)
    if "config" not in args:
        args["config"] = _config(tmp)
    return TrainRun(**args)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """128 steps of PPO on the smoke suite: a whole output folder."""
    from damon_gym.training.train import train

    tmp = tmp_path_factory.mktemp("train")
    out = tmp / "run"
    summary = train(_run(tmp, out))
    return tmp, out, summary


def test_train_writes_the_run(small_run):
    from damon_gym.scenario import load_scenario

    tmp, out, summary = small_run
    for f in ("model.zip", "vecnormalize.pkl", "config.yaml", "scenarios.json", "summary.json",
              "best_model.zip", "checkpoint.zip", "checkpoint_vecnormalize.pkl",
              "checkpoint.json"):
        assert (out / f).is_file(), f
    assert not list(out.glob(".tmp-*"))  # no temporary file left by the atomic writes
    assert summary["timesteps"] == 128 and summary["final_eval"]["mean_ep_length"] > 0
    scen = json.loads((out / "scenarios.json").read_text())
    assert {r["scenario"] for r in scen["train"]} == {"smoke-gups", "smoke-stream",
                                                       "smoke-zigzag"}
    for r in scen["train"]:
        assert r["hash"] == load_scenario(r["scenario"]).resolved(r["seed"]).content_hash()
    assert set(scen["played"]) <= {r["hash"] for r in scen["train"]} and scen["played"]
    import yaml

    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["resolved"]["algo_kwargs"]["n_steps"] == 64
    assert cfg["resolved"]["normalize"] == {"norm_obs": False, "norm_reward": True,
                                            "gamma": 0.95}
    # the logger got the reward terms and per-node metrics of info, and the evaluation
    csv = (out / "logs" / "run_0" / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("rewards/perf_norm", "rewards/churn_penalty", "env/migrated_mib",
                "node0/util", "node1/latency_ewma_ns", "node0/used_gib", "eval/mean_reward"):
        assert key in csv, key
    assert "node2/util" not in csv  # the smoke machines have two nodes
    pytest.importorskip("tensorboard")
    assert list((out / "logs" / "run_0").glob("events.out.tfevents.*"))


def test_train_resume_continues(small_run, tmp_path):
    from damon_gym.training.config import TrainConfigError
    from damon_gym.training.train import train

    tmp, out, _ = small_run
    out2 = tmp_path / "run"
    shutil.copytree(out, out2)
    with pytest.raises(TrainConfigError, match="already holds a training run"):
        train(_run(tmp, out2, steps=256))
    s = train(_run(tmp, out2, steps=256, resume=True))
    assert s["timesteps"] == 256 and s["resumed"]
    assert (out2 / "logs" / "run_1").is_dir()  # a new log folder; the first one kept
    assert len(s["evaluations"]) == 2  # the first run's final evaluation and this one's
    with pytest.raises(TrainConfigError, match="no checkpoint"):
        train(_run(tmp, tmp_path / "empty", resume=True))


def test_env_kwargs_reach_the_training_and_eval_envs(tmp_path):
    """rl-zoo3's env_kwargs set the reward's terms of every env the run builds."""
    from damon_gym.training.train import _vec_env, resolve_config

    res = resolve_config(_run(tmp_path, tmp_path / "o", config=_config(
        tmp_path, env_kwargs="dict(beta=1.0, m_cap_bytes=4294967296, churn_cap=None)")))
    assert res.env_kwargs == {"beta": 1.0, "m_cap_bytes": 4 << 30, "churn_cap": None}
    venv = _vec_env("DamonGym/Interleave-v0", 2, 0, "smoke", env_kwargs=res.env_kwargs)
    try:
        assert venv.get_attr("beta") == [1.0, 1.0]
        assert venv.get_attr("m_cap_bytes") == [4 << 30] * 2
        assert venv.get_attr("churn_cap") == [None, None]
    finally:
        venv.close()


def test_trained_agent_starts_from_the_saved_policy(small_run, tmp_path):
    """-i/--trained-agent: training goes on from the saved parameters (with a learning rate of
    1e-9 they stay within ~1e-8 of the saved ones, so the actions are the saved model's to
    1e-5, where a fresh policy's differ by ~0.1), counting steps anew."""
    from stable_baselines3 import PPO

    from damon_gym.training.config import TrainConfigError
    from damon_gym.training.train import train

    tmp, out, _ = small_run
    s = train(_run(tmp_path, tmp_path / "ft", trained_agent=out, steps=128,
                   config=_config(tmp_path, learning_rate=1e-9)))
    assert s["timesteps"] == 128 and s["trained_agent"] == str(out / "model.zip")
    old = PPO.load(str(out / "model.zip"), device="cpu")
    new = PPO.load(str(tmp_path / "ft" / "model.zip"), device="cpu")
    obs = np.stack([_obs("Interleave", "smoke-zigzag", k) for k in range(3)])
    np.testing.assert_allclose(old.predict(obs, deterministic=True)[0],
                               new.predict(obs, deterministic=True)[0], atol=1e-5)
    with pytest.raises(TrainConfigError, match="trained-agent: .*not a model .zip"):
        train(_run(tmp_path, tmp_path / "x", trained_agent=tmp_path / "nosuch.zip"))


@pytest.mark.slow
def test_train_improves_over_the_untrained_policy(tmp_path):
    """A few thousand PPO steps on the shifting-hot-set smoke scenario beat the untrained
    policy (equal weights: the mean action 0) on episodes it did not train on. Seeded: the
    numbers are the same on every run (before ~0.72, after ~0.98)."""
    from stable_baselines3 import PPO

    from damon_gym.training.train import train

    out = tmp_path / "run"
    suite = _suite(tmp_path, "smoke-zigzag", list(range(8)))
    cfg = _config(tmp_path, n_timesteps=2048)
    train(_run(tmp_path, out, suite=suite, eval_suite=suite, config=cfg, seed=0))
    env = gym.make("DamonGym/Interleave-v0", scenario="smoke-zigzag",
                   disable_env_checker=True).unwrapped

    def score(act) -> float:
        rewards = []
        for seed in (100, 101, 102):
            obs, info = env.reset(seed=seed)
            done = False
            while not done:
                obs, r, te, tr, info = env.step(act(obs))
                rewards.append(r)
                done = te or tr
        return float(np.mean(rewards))

    th.manual_seed(0)
    untrained = PPO(NodeSetPolicy, env, seed=0, device="cpu",
                    policy_kwargs={"log_std_init": -0.5})
    before = score(lambda o: untrained.predict(o, deterministic=True)[0])
    agent = _learned("ppo", out, env)
    after = score(lambda o: agent.act(o, {}))
    assert after > before + 0.1, (before, after)


def test_save_load_gives_identical_actions(tmp_path):
    """The saved model and VecNormalize statistics, loaded by the learned agent, act exactly
    as the model in memory on the observations it normalised itself -- with observation
    normalisation on (an MLP policy), so the statistics matter."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from damon_gym.training.train import train

    cfg = _config(tmp_path, "mlp.yml", policy="MlpPolicy",
                  normalize="dict(norm_obs=True, norm_reward=True)",
                  policy_kwargs="dict(net_arch=[32])")
    out = tmp_path / "run"
    train(_run(tmp_path, out, config=cfg))
    env = gym.make("DamonGym/Interleave-v0", scenario="smoke-zigzag",
                   disable_env_checker=True).unwrapped
    model = PPO.load(str(out / "model.zip"), device="cpu")
    vn = VecNormalize.load(str(out / "vecnormalize.pkl"), _DummyVec(env))
    assert vn.norm_obs and vn.obs_rms.count > 100  # statistics were gathered
    agent = _learned("ppo", out, env)
    obs, _ = env.reset(seed=3)
    for _ in range(10):
        want, _ = model.predict(vn.normalize_obs(obs), deterministic=True)
        got = agent.act(obs, {})
        np.testing.assert_array_equal(got, want)
        raw, _ = model.predict(obs, deterministic=True)
        obs, *_ = env.step(got)
    assert not np.array_equal(raw, want)  # the normalisation changes the action
    # the same through the zip path and the best model
    again = _learned("ppo", out / "model.zip", env)
    np.testing.assert_array_equal(again.act(obs, {}), agent.act(obs, {}))
    assert _learned("ppo", out / "best_model.zip", env).stats_path.name == \
        "best_vecnormalize.pkl"


class _DummyVec:
    """Just enough of a VecEnv for VecNormalize.load."""

    def __init__(self, env) -> None:
        from stable_baselines3.common.vec_env import DummyVecEnv

        self._inner = DummyVecEnv([lambda: gym.make("DamonGym/Interleave-v0",
                                                    disable_env_checker=True)])

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _cli(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from damon_gym.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse errors
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("extra,message", [
    (["--task", "Nope"], "task: 'Nope'; allowed: Interleave, Tiering, Joint"),
    (["--steps", "0"], "steps: 0; allowed: an int in [1, 1,000,000,000]"),
    (["--seed", "-1"], "seed: -1; allowed"),
    (["--suite", "nosuch"], "suite: suite 'nosuch' not found"),
    (["--eval-episodes", "0"], "eval-episodes: 0; allowed"),
    (["--trials", "2"], "--backend ray"),
    (["--backend", "ray", "--sweep", "learning_rate"], "sweep: 'learning_rate'; expected KEY=V1"),
    (["--resume"], "holds no checkpoint"),
    (["--config", "nosuch.yml"], "config: nosuch.yml: no such file"),
])
def test_train_cli_refuses_bad_input(tmp_path, extra, message):
    args = ["train", "--task", "Interleave", "--algo", "ppo", "--out", str(tmp_path / "o")]
    code, _, err = _cli(*args, *extra)
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("hp,message", [
    ({"n_envs": 0}, "n_envs: 0; allowed: an int in [1, 64]"),
    ({"n_timesteps": -5}, "n_timesteps: -5"),
    ({"learning_rat": 1e-3}, "learning_rat: not a hyperparameter of PPO"),
    ({"learning_rate": "lin_x"}, "learning_rate: 'lin_x'; expected lin_<positive number>"),
    ({"policy": "os.system"}, "policy: 'os.system'; a dotted policy must be a class under"),
    ({"policy": "CnnPolicyz"}, "policy: 'CnnPolicyz'; allowed: MlpPolicy"),
    ({"policy_kwargs": "__import__('os').system('true')"}, "policy_kwargs:"),
    ({"normalize": "dict(norm_obz=True)"}, "normalize: unknown key(s) ['norm_obz']"),
    ({"env_wrapper": "x"}, "env_wrapper: rl-zoo3 key(s) that damon-gym train does not support"),
    ({"env_kwargs": "dict(action_mode='delta')"}, "env_kwargs: action_mode not allowed; "
                                                  "allowed: beta, m_cap_bytes, churn_cap"),
    ({"env_kwargs": "dict(beta=1.5)"}, "env_kwargs.beta: 1.5; allowed: a number in [0, 1]"),
    ({"env_kwargs": "dict(m_cap_bytes=0)"}, "env_kwargs.m_cap_bytes: 0; allowed"),
    ({"env_kwargs": "dict(churn_cap=-1)"}, "env_kwargs.churn_cap: -1; allowed: a number > 0, "
                                           "or None"),
])
def test_train_cli_refuses_bad_config(tmp_path, hp, message):
    cfg = _config(tmp_path, **hp)
    code, _, err = _cli("train", "--task", "Interleave", "--algo", "ppo", "--suite", "smoke",
                        "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert code == 2, err
    assert message in err, err
    assert not (tmp_path / "o").exists()  # refused before anything was built


def test_shipped_configs_parse():
    """Every shipped file has an entry per task that resolves for its algorithm."""
    from damon_gym.training import ALGOS
    from damon_gym.training.config import Resolved, load_hyperparams

    for algo in ALGOS:
        for task in ("Interleave", "Tiering", "Joint"):
            r = Resolved(algo, load_hyperparams(algo, f"DamonGym/{task}-v0"))
            assert r.n_timesteps >= 10_000 and r.policy.__name__.startswith("NodeSet")
            assert r.normalize == {"norm_obs": False, "norm_reward": True}


# -- learned agents in the CLI ------------------------------------------------------------------
def test_learned_agent_in_run_and_eval(small_run, tmp_path):
    _, out, _ = small_run
    code, text, err = _cli("run", "--agent", f"ppo:{out}", "--scenario", "smoke-zigzag",
                           "--quiet")
    assert code == 0, err
    assert f"ppo:{out}" in text and "mean reward" in text
    code, text, err = _cli("eval", "--task", "Interleave", "--scenario", "smoke-zigzag",
                           "--agents", f"ppo:{out},b2-bw-weights", "--out",
                           str(tmp_path / "ev"), "--no-plots")
    assert code == 0, err
    rows = [json.loads(ln) for ln in (tmp_path / "ev" / "results.jsonl").read_text().splitlines()]
    assert {r["agent"] for r in rows} == {f"ppo:{out}", "b2-bw-weights"}


@pytest.mark.parametrize("argv,message", [
    (["run", "--agent", "ppo", "--quiet"], "needs a model: ppo:PATH"),
    (["run", "--agent", "ppo:/no/such/dir", "--quiet"], "no such file or folder"),
    (["eval", "--task", "Interleave", "--scenario", "smoke-zigzag", "--agents",
      "sac:/no/such.zip", "--out", "OUT"], "neither a model .zip nor"),
    (["run", "--env", "DamonGym/Tiering-v0", "--agent", "ppo:RUN", "--quiet"],
     "was trained on another task"),
    (["run", "--agent", "sac:RUN", "--quiet"], "is not a SAC model"),
])
def test_learned_agent_bad_specs(small_run, tmp_path, argv, message):
    _, out, _ = small_run
    argv = [a.replace("RUN", str(out)).replace("OUT", str(tmp_path / "ev")) for a in argv]
    code, _, err = _cli(*argv)
    assert code == 2, err
    assert message in err, err


# -- rl-zoo3 and Ray Tune --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "a2c", "sac"])
def test_rl_zoo3_trains_on_the_config_files(tmp_path, algo):
    """rl-zoo3 itself reads configs/agents/<algo>.yml and trains on the env."""
    pytest.importorskip("rl_zoo3")
    cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env",
           "DamonGym/Interleave-v0", "--gym-packages", "damon_gym", "-conf",
           str(REPO / "configs" / "agents" / f"{algo}.yml"), "-n", "256", "-f",
           str(tmp_path / "logs"), "--seed", "0", "--eval-freq", "-1", "--n-eval-envs", "1",
           "--log-interval", "-1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    saved = list((tmp_path / "logs" / algo).glob("DamonGym-Interleave-v0_*/DamonGym-Interleave-v0.zip"))
    assert saved, p.stdout[-2000:]
    # the zoo's model and statistics load as a learned agent
    envi = gym.make("DamonGym/Interleave-v0", disable_env_checker=True).unwrapped
    agent = _learned(algo, saved[0], envi)
    assert agent.stats_path is not None and agent.stats_path.name == "vecnormalize.pkl"
    obs, _ = envi.reset(seed=0)
    assert agent.act(obs, {}).shape == (N_MAX + 1,)


@pytest.mark.slow
def test_ray_tune_two_trials(tmp_path):
    """``--backend ray --trials 2`` runs two seeded trials on a local Ray and writes
    trials.json and each trial's run folder."""
    pytest.importorskip("ray.tune")
    cfg = _config(tmp_path, n_envs=1)
    out = tmp_path / "tune"
    cmd = [sys.executable, "-m", "damon_gym.cli", "train", "--task", "Interleave", "--algo",
           "ppo", "--suite", "smoke", "--steps", "64", "--out", str(out), "--config", str(cfg),
           "--eval-suite", "smoke", "--eval-episodes", "1", "--eval-freq", "0",
           "--backend", "ray", "--trials", "2", "--no-progress"]
    env = dict(os.environ, RAY_ADDRESS="", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = json.loads((out / "trials.json").read_text())["trials"]
    assert [r["seed"] for r in rows] == [0, 1] and all(r["ok"] for r in rows)
    for r in rows:
        assert (Path(r["out"]) / "model.zip").is_file()
        assert r["eval_mean_reward_per_step"] is not None


@pytest.mark.slow
def test_train_subproc_envs(tmp_path):
    """--vec-env subproc: the training envs in worker processes, same outputs."""
    from damon_gym.training.train import train

    s = train(_run(tmp_path, tmp_path / "run", subproc=True))
    assert s["timesteps"] == 128 and (tmp_path / "run" / "model.zip").is_file()


# -- the learning curve ------------------------------------------------------------------------------
def _fake_run(folder: Path, evals: list[tuple[int, float]]) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"evaluations": [
        {"timesteps": t, "mean_reward_per_step": v, "mean_reward": v} for t, v in evals]}))
    return folder


def test_learning_curve_over_runs(tmp_path):
    """Mean and 95 % t-interval over runs at the evaluation steps all runs share; a
    trials.json folder stands for its trials; the PNG and table are written."""
    from damon_gym.training.curve import curve, main, run_dirs

    a = _fake_run(tmp_path / "a", [(100, 0.5), (200, 0.6), (300, 0.7)])
    b = _fake_run(tmp_path / "b", [(100, 0.7), (200, 0.8)])
    c = curve(run_dirs([a, b]))
    assert c["steps"] == [100, 200]
    p = c["points"][0]
    assert p["mean"] == pytest.approx(0.6) and p["n"] == 2
    # t(0.975, 1) = 12.706; sd of (0.5, 0.7) = 0.1414; / sqrt(2)
    assert p["ci95"] == pytest.approx(12.706 * 0.141421356 / 2**0.5, rel=1e-4)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "trials.json").write_text(json.dumps(
        {"trials": [{"out": str(a)}, {"out": str(b)}]}))
    assert run_dirs([tmp_path / "t"]) == [a, b]
    assert main([str(tmp_path / "t"), "--out", str(tmp_path / "doc" / "lc")]) == 0
    assert (tmp_path / "doc" / "lc.png").stat().st_size > 1000
    assert "| 200 | 0.7000 |" in (tmp_path / "doc" / "lc.md").read_text()
    with pytest.raises(ValueError, match="neither summary.json"):
        run_dirs([tmp_path / "nothing"])
    c2 = _fake_run(tmp_path / "c", [(150, 0.1)])
    with pytest.raises(ValueError, match="no evaluation step count is common"):
        curve([a, c2])
