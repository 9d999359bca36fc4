"""damon_gym.training.imitation and ``damon-gym train --imitate``: behaviour cloning of an
agent's play as the starting policy (smoke suite, fixed seeds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from damon_gym.cli import main
from damon_gym.training.imitation import clone, collect
from damon_gym.training.train import TrainRun, _vec_env, check_run, resolve_config

ENV = "DamonGym/Tiering-v0"
TEACHER = "instant-oracle"  # moves pages at some steps and holds at others: actions vary


def _fresh_ppo(tmp: Path):
    from damon_gym.training.config import algo_class

    run = check_run(TrainRun(task="Tiering", algo="ppo", out=tmp / "unused", suite="smoke",
                             eval_suite=None))
    res = resolve_config(run)
    return algo_class("ppo")(res.policy, _vec_env(ENV, 1, 0, "smoke"), seed=0, device="cpu",
                             policy_kwargs=res.policy_kwargs or None, **res.algo_kwargs)


def test_collect_records_the_agents_play_and_is_seeded():
    import gymnasium as gym

    obs, actions, episodes = collect(ENV, TEACHER, "smoke", 200, seed=3)
    assert obs.shape == (200, 101) and actions.shape == (200, 4)
    assert obs.dtype == actions.dtype == np.float32 and episodes > 1
    space = gym.make(ENV, scenario="smoke-gups").action_space
    assert all(space.contains(a) for a in actions)
    assert actions.std(axis=0).max() > 0.1  # the teacher's play is not one constant
    again = collect(ENV, TEACHER, "smoke", 200, seed=3)
    assert np.array_equal(obs, again[0]) and np.array_equal(actions, again[1])
    other = collect(ENV, TEACHER, "smoke", 200, seed=4)
    assert not np.array_equal(obs, other[0])


def test_clone_fits_the_teachers_actions_on_unseen_observations(tmp_path):
    """The cloned policy's deterministic actions match the teacher's on episodes it was not
    fitted on (another seed) far better than the untrained policy's do."""
    obs, actions, _ = collect(ENV, TEACHER, "smoke", 600, seed=0)
    test_obs, test_actions, _ = collect(ENV, TEACHER, "smoke", 300, seed=1)
    model = _fresh_ppo(tmp_path)

    def error() -> float:
        pred, _ = model.predict(test_obs, deterministic=True)
        return float(((pred - test_actions) ** 2).mean())

    untrained = error()
    log_std = model.policy.log_std.detach().clone()
    value = [p.detach().clone() for p in model.policy.value_net.parameters()]
    res = clone(model.policy, obs, actions, epochs=20, seed=0)
    assert res["validation_mse"] < 0.2 * res["validation_mse_before"]
    assert error() < 0.2 * untrained
    # the action noise and the value function are left to the reinforcement learning
    assert np.array_equal(model.policy.log_std.detach().numpy(), log_std.numpy())
    assert all(np.array_equal(p.detach().numpy(), q.numpy())
               for p, q in zip(model.policy.value_net.parameters(), value, strict=True))


def test_train_imitate_with_zero_steps_writes_the_cloned_model(tmp_path, capsys):
    out = tmp_path / "bc"
    code = main(["train", "--task", "Tiering", "--algo", "ppo", "--suite", "smoke",
                 "--imitate", TEACHER, "--imitate-steps", "400", "--imitate-epochs", "20",
                 "--steps", "0", "--eval-suite", "smoke", "--eval-episodes", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    im = summary["imitation"]
    assert summary["timesteps"] == 0 and im["agent"] == TEACHER and im["steps"] == 400
    assert im["validation_mse"] < 0.2 * im["validation_mse_before"]
    # the saved model plays like the teacher: the learned agent loads it
    from stable_baselines3 import PPO

    test_obs, test_actions, _ = collect(ENV, TEACHER, "smoke", 200, seed=7)
    pred, _ = PPO.load(str(out / "model.zip"), device="cpu").predict(test_obs,
                                                                     deterministic=True)
    fresh, _ = _fresh_ppo(tmp_path).predict(test_obs, deterministic=True)
    assert ((pred - test_actions) ** 2).mean() < 0.2 * ((fresh - test_actions) ** 2).mean()


@pytest.mark.parametrize("extra, message", [
    (["--algo", "sac", "--imitate", TEACHER], "imitate: not with --algo sac"),
    (["--algo", "ppo", "--imitate", "nosuch"], "imitate: 'nosuch' is not a registered agent"),
    (["--algo", "ppo", "--imitate", "instant-oracle:x"], "imitate: 'instant-oracle:x': ARG must"),
    (["--algo", "ppo", "--imitate", TEACHER, "--imitate-steps", "0"], "imitate-steps: 0"),
    (["--algo", "ppo", "--imitate", TEACHER, "--imitate-epochs", "0"], "imitate-epochs: 0"),
    (["--algo", "ppo", "--steps", "0"], "steps: 0"),
    (["--algo", "ppo", "--imitate", TEACHER, "--resume"], "imitate: only for a new model"),
])
def test_train_imitate_refuses_bad_input(tmp_path, capsys, extra, message):
    code = main(["train", "--task", "Tiering", "--suite", "smoke", "--out",
                 str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
