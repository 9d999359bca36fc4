"""Training learned agents (issue 12): ``damon-gym train`` (``damon_gym.cli_train``), the
hyperparameter files (``configs/agents/<algo>.yml``, rl-zoo3's format), the node-set policy
(``policies``), callbacks and the Ray Tune backend. Only this module is imported by the agent
registry; it imports neither torch nor stable-baselines3."""

from __future__ import annotations

#: the algorithms ``damon-gym train --algo`` and the learned agents (``ppo:PATH``) know
ALGOS = ("ppo", "sac", "a2c")


def is_learned_spec(spec: str) -> bool:
    """Whether ``spec`` names a learned agent, ``ALGO:PATH`` (``ppo:models/interleave``)."""
    if not isinstance(spec, str):
        return False
    name, sep, _ = spec.strip().partition(":")
    return bool(sep) and name in ALGOS


def check_learned_spec(spec: str) -> str:
    """``spec`` (``ALGO:PATH``) if PATH is a model .zip or a folder holding ``model.zip``, else
    a ValueError naming it (so ``eval`` fails before its first episode, not in a worker)."""
    from pathlib import Path

    algo, _, path = spec.strip().partition(":")
    p = Path(path).expanduser()
    ok = (p.is_dir() and (p / "model.zip").is_file()) or p.is_file() \
        or p.with_suffix(".zip").is_file()
    if not ok:
        raise ValueError(f"agent: {spec!r}: {path!r} is neither a model .zip nor a "
                         "`damon-gym train` output folder (with model.zip)")
    return spec
