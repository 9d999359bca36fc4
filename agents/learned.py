"""Learned agents: a model trained by ``damon-gym train`` (or rl-zoo3) behind the agent
protocol (``reset(seed)``, ``act(obs, info)``).

``ppo:PATH``, ``sac:PATH`` or ``a2c:PATH`` (in ``damon-gym eval --agents`` and ``damon-gym run
--agent``): ``PATH`` is a training run's folder (its ``model.zip``) or a model ``.zip``. The
VecNormalize statistics saved beside the model (``vecnormalize.pkl`` in the folder, or
``<name>_vecnormalize.pkl`` / ``vecnormalize.pkl`` beside a zip; rl-zoo3's
``<env>/vecnormalize.pkl``) are applied to every observation as in training (when the model
was trained with normalised observations); actions are deterministic (the policy's mean).
The model must have been trained on the same task: its observation and action spaces must
match the env's.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.training import ALGOS


def model_files(path: str | Path) -> tuple[Path, Path | None]:
    """(the model zip, its VecNormalize statistics or None) of a ``PATH`` argument."""
    p = Path(path).expanduser()
    if p.is_dir():
        model = p / "model.zip"
        if not model.exists():
            raise ValueError(f"agent: {p} holds no model.zip (is it a `damon-gym train` "
                             "output folder?)")
    elif p.is_file():
        model = p
    elif p.with_suffix(".zip").is_file():
        model = p.with_suffix(".zip")
    else:
        raise ValueError(f"agent: model {str(path)!r}: no such file or folder")
    stem = model.stem
    candidates = [model.parent / f"{stem}_vecnormalize.pkl"]
    if stem == "best_model":
        candidates.append(model.parent / "best_vecnormalize.pkl")
    if stem == "checkpoint":
        candidates.append(model.parent / "checkpoint_vecnormalize.pkl")
    candidates += [model.parent / "vecnormalize.pkl"]
    candidates += sorted(model.parent.glob("*/vecnormalize.pkl"))  # rl-zoo3's <env>/ folder
    stats = next((c for c in candidates if c.is_file()), None)
    return model, stats


class LearnedAgent:
    """A trained SB3 model as an agent (module docstring)."""

    def __init__(self, algo: str, path: str | Path, env) -> None:
        if algo not in ALGOS:
            raise ValueError(f"agent: {algo!r}; allowed learned agents: "
                             f"{', '.join(f'{a}:PATH' for a in ALGOS)}")
        from damon_gym.training.config import algo_class

        self.name = f"{algo}:{path}"
        self.model_path, self.stats_path = model_files(path)
        try:
            self.model = algo_class(algo).load(str(self.model_path), device="cpu")
        except Exception as e:  # a zip of another algorithm fails anywhere inside SB3's load
            raise ValueError(f"agent: {self.model_path} is not a {algo.upper()} model "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
        base = env.unwrapped
        for what, mine, theirs in (("observation", self.model.observation_space,
                                    base.observation_space),
                                   ("action", self.model.action_space, base.action_space)):
            if mine.shape != theirs.shape or type(mine) is not type(theirs):
                raise ValueError(f"agent: {self.model_path} was trained on another task: its "
                                 f"{what} space is {mine}, this env's {theirs}")
        self.obs_rms = None
        self.clip_obs, self.epsilon = 10.0, 1e-8
        if self.stats_path is not None:
            with open(self.stats_path, "rb") as f:
                vn = pickle.load(f)
            if getattr(vn, "norm_obs", False):
                self.obs_rms = vn.obs_rms
                self.clip_obs, self.epsilon = float(vn.clip_obs), float(vn.epsilon)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The observation as the model saw it in training (VecNormalize's transform)."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.obs_rms is None:
            return obs
        z = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)

    def reset(self, seed: int | None = None) -> None:
        pass  # deterministic and memoryless: nothing to reset

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        action, _ = self.model.predict(self.normalize(obs), deterministic=True)
        return np.asarray(action, dtype=np.float32)


def make_learned_agent(spec: str, env) -> LearnedAgent:
    """The agent of ``ALGO:PATH``."""
    algo, sep, path = spec.strip().partition(":")
    if not sep or not path:
        raise ValueError(f"agent: {spec!r}; a learned agent is {algo}:PATH with PATH a "
                         "`damon-gym train` output folder or a model .zip")
    return LearnedAgent(algo, path, env)
