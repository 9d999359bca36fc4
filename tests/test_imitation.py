"""damon_gym.training.imitation and ``damon-gym train --imitate``: behaviour cloning of an
agent's play as the starting policy (smoke suite, fixed seeds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from damon_gym.cli import main
from damon_gym.training.imitation import acting, clone, collect, sample_weights
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


def test_sample_weights_give_the_acting_samples_their_share():
    actions = np.full((100, 4), -1.0, np.float32)
    actions[[3, 50, 97]] = [1.0, 0.5, -1.0, 0.0]
    assert np.flatnonzero(acting(actions)).tolist() == [3, 50, 97]
    # a dimension set anew at every step (Joint's interleave weights) has no holding value
    varied = np.concatenate([actions, np.linspace(-1, 1, 100, dtype=np.float32)[:, None]], 1)
    assert np.flatnonzero(acting(varied)).tolist() == [3, 50, 97]
    act = acting(actions)
    w = sample_weights(act, 0.4)
    assert w is not None and w.mean() == pytest.approx(1.0)
    assert w[act].sum() / w.sum() == pytest.approx(0.4)
    assert sample_weights(act, None) is None
    assert sample_weights(acting(np.zeros((10, 4), np.float32)), 0.5) is None  # one kind only
    with pytest.raises(ValueError, match=r"imitate-balance: 1.0; allowed: a share in \(0, 1\)"):
        sample_weights(act, 1.0)


def test_balance_fits_a_rare_action_that_the_plain_mean_misses(tmp_path):
    """30 of 2,000 samples act (+1 where the teacher otherwise holds at -1), told apart by one
    shifted feature. The plain mean squared error leaves them at the holding action (their
    error ~4 = (1 - (-1))^2 after 5 epochs; 4.1-4.3 over data seeds 0-3); balance 0.5 fits
    them (0.8-1.2 over the same seeds): half the plain error is a wide margin either way."""
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 1.0, (2000, 101)).astype(np.float32)
    actions = np.full((2000, 4), -1.0, np.float32)
    rare = rng.choice(2000, 30, replace=False)
    obs[rare, 0] += 2.5
    actions[rare] = 1.0
    plain = clone(_fresh_ppo(tmp_path).policy, obs, actions, epochs=5, seed=0)
    balanced = clone(_fresh_ppo(tmp_path).policy, obs, actions, epochs=5, seed=0, balance=0.5)
    assert plain["acting_share"] == balanced["acting_share"] == pytest.approx(0.015)
    assert plain["acting_mse"] > 3.0
    assert balanced["acting_mse"] < 0.5 * plain["acting_mse"]


@pytest.mark.parametrize("extra, message", [
    (["--algo", "sac", "--imitate", TEACHER], "imitate: not with --algo sac"),
    (["--algo", "ppo", "--imitate", "nosuch"], "imitate: 'nosuch' is not a registered agent"),
    (["--algo", "ppo", "--imitate", "instant-oracle:x"], "imitate: 'instant-oracle:x': ARG must"),
    (["--algo", "ppo", "--imitate", TEACHER, "--imitate-steps", "0"], "imitate-steps: 0"),
    (["--algo", "ppo", "--imitate", TEACHER, "--imitate-epochs", "0"], "imitate-epochs: 0"),
    (["--algo", "ppo", "--steps", "0"], "steps: 0"),
    (["--algo", "ppo", "--imitate", TEACHER, "--imitate-balance", "1.5"],
     "imitate-balance: 1.5; allowed: a share in (0, 1)"),
    (["--algo", "ppo", "--imitate-balance", "0.5"], "imitate-balance: 0.5; allowed"),
    (["--algo", "ppo", "--imitate", TEACHER, "--resume"], "imitate: only for a new model"),
])
def test_train_imitate_refuses_bad_input(tmp_path, capsys, extra, message):
    code = main(["train", "--task", "Tiering", "--suite", "smoke", "--out",
                 str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
