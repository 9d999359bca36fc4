"""Hyperparameter files in rl-zoo3's format: ``configs/agents/<algo>.yml``, one mapping per env
id (``DamonGym/Interleave-v0``, ...) whose keys are rl-zoo3's (``n_envs``, ``n_timesteps``,
``policy``, ``normalize``, ``policy_kwargs``) plus keyword arguments of the algorithm
(``learning_rate``, ``n_steps``, ...). The same file trains with rl-zoo3 itself::

    python -m rl_zoo3.train --algo ppo --env DamonGym/Interleave-v0 --gym-packages damon_gym \\
        -conf configs/agents/ppo.yml

rl-zoo3 ``eval``s the string values of ``normalize`` and ``policy_kwargs``
(``"dict(net_arch=[64], ...)"``); here they are parsed, not evaluated: only ``dict(...)``
calls, literals, lists and the activation classes ``nn.<Name>`` are accepted. Schedules
``lin_<x>`` (linear decay from ``x`` to 0, as in rl-zoo3) work for ``learning_rate`` and
``clip_range``. Keys rl-zoo3 reads but this trainer does not support (wrappers, frame stacks,
callbacks) are refused by name rather than ignored.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math
from pathlib import Path
from typing import Any

from damon_gym.errors import DamonGymError
from damon_gym.safe_yaml import read_yaml
from damon_gym.training import ALGOS


class TrainConfigError(DamonGymError):
    """A hyperparameter file or value that cannot be used; the message names the field."""


def agents_config_dir() -> Path:
    from damon_gym.scenario import CONFIG_DIR

    return Path(CONFIG_DIR) / "agents"


def default_config_path(algo: str) -> Path:
    return agents_config_dir() / f"{algo}.yml"


#: rl-zoo3 keys handled here rather than passed to the algorithm
ZOO_KEYS = ("n_envs", "n_timesteps", "policy", "normalize", "policy_kwargs", "env_kwargs")
#: env arguments ``env_kwargs`` may set: the reward's terms only. The action and observation
#: must stay the task's own, so that the model plays in ``damon-gym eval`` and ``run``, whose
#: envs take the defaults (docs/reward.md: beta in [0, 1], M_cap > 0 bytes, churn_cap > 0 or None).
ENV_KWARGS = ("beta", "m_cap_bytes", "churn_cap")
#: rl-zoo3 keys this trainer refuses (they need rl-zoo3's own machinery)
UNSUPPORTED = ("env_wrapper", "vec_env_wrapper", "frame_stack", "callback", "monitor_kwargs",
               "replay_buffer_class", "replay_buffer_kwargs", "noise_type", "noise_std")
NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon")
#: ``nn.<Name>`` activations a policy_kwargs string may name
ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid")
#: where a ``policy: a.b.Class`` may come from
POLICY_MODULES = ("damon_gym.training.",)
MAX_ENVS = 64
MAX_TIMESTEPS = 10**9


def algo_class(algo: str):
    from stable_baselines3 import A2C, PPO, SAC

    return {"ppo": PPO, "sac": SAC, "a2c": A2C}[check_algo(algo)]


def check_algo(algo: str) -> str:
    if algo not in ALGOS:
        raise TrainConfigError(f"algo: {algo!r} is not allowed; allowed: {', '.join(ALGOS)}")
    return algo


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The raw mapping for ``env_id`` in the algorithm's file (``path`` or the shipped one)."""
    check_algo(algo)
    p = Path(path) if path is not None else default_config_path(algo)
    if not p.exists():
        raise TrainConfigError(f"config: {p}: no such file")
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise TrainConfigError(f"{p}: expected a mapping of env ids to hyperparameters")
    if env_id not in data:
        known = ", ".join(str(k) for k in data)
        raise TrainConfigError(f"{p}: no entry for {env_id!r}; the file has: {known}")
    hp = data[env_id]
    if not isinstance(hp, dict):
        raise TrainConfigError(f"{p}: {env_id}: expected a mapping of hyperparameters, got "
                               f"{type(hp).__name__}")
    return dict(hp)


# -- rl-zoo3's string values, parsed ------------------------------------------------------------
def parse_call_string(text: str, field: str) -> Any:
    """``"dict(a=1, b=[2, 3], act=nn.ReLU)"`` -> a dict, without ``eval``."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise TrainConfigError(f"{field}: {text!r} is not a Python expression ({e.msg}); "
                               "expected dict(key=value, ...)") from None
    return _literal(tree.body, field, text)


def _literal(node: ast.AST, field: str, text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(x, field, text) for x in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:  # {**x}: not a literal (refused below)
                break
            out[_literal(k, field, text)] = _literal(v, field, text)
        else:
            return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, field, text)
        if isinstance(v, (int, float)):
            return -v if isinstance(node.op, ast.USub) else v
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "dict" and not node.args):
        return {kw.arg: _literal(kw.value, field, text) for kw in node.keywords}
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in ("nn", "th.nn") and node.attr in ACTIVATIONS):
        from torch import nn

        return getattr(nn, node.attr)
    raise TrainConfigError(
        f"{field}: {ast.get_source_segment(text, node) or text!r} is not allowed in {text!r}; "
        "allowed: dict(...), numbers, strings, True/False/None, lists and "
        + ", ".join(f"nn.{a}" for a in ACTIVATIONS))


def _schedule(value: Any, field: str):
    """A number, or rl-zoo3's ``lin_<x>`` (from x at the start to 0 at the end)."""
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            x = float(value[4:])
        except ValueError:
            x = float("nan")
        if not (math.isfinite(x) and x > 0):
            raise TrainConfigError(f"{field}: {value!r}; expected lin_<positive number>")
        return LinearSchedule(x)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise TrainConfigError(f"{field}: {value!r}; expected a positive number or lin_<x>")
    return float(value)


class LinearSchedule:
    """``x * progress_remaining`` (picklable, so saved models load without this module's
    closure)."""

    def __init__(self, start: float) -> None:
        self.start = float(start)

    def __call__(self, progress_remaining: float) -> float:
        return self.start * progress_remaining

    def __repr__(self) -> str:
        return f"lin_{self.start:g}"


def _normalize(value: Any) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, str):
        value = parse_call_string(value, "normalize")
    if not isinstance(value, dict):
        raise TrainConfigError(f"normalize: {value!r}; expected true/false or "
                               "\"dict(norm_obs=..., norm_reward=...)\"")
    bad = sorted(set(value) - set(NORMALIZE_KEYS))
    if bad:
        raise TrainConfigError(f"normalize: unknown key(s) {bad}; allowed: "
                               f"{', '.join(NORMALIZE_KEYS)}")
    return dict(value)


def _policy(value: Any, algo_cls) -> Any:
    if not isinstance(value, str) or not value:
        raise TrainConfigError(f"policy: {value!r}; expected a policy name such as MlpPolicy or "
                               "damon_gym.training.policies.NodeSetPolicy")
    if "." not in value:
        if value not in algo_cls.policy_aliases:
            raise TrainConfigError(f"policy: {value!r}; allowed: "
                                   f"{', '.join(algo_cls.policy_aliases)} or a class of "
                                   "damon_gym.training.policies")
        return value
    if not value.startswith(POLICY_MODULES):
        raise TrainConfigError(f"policy: {value!r}; a dotted policy must be a class under "
                               f"{', '.join(POLICY_MODULES)}")
    module, _, name = value.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise TrainConfigError(f"policy: {value!r} does not exist") from None


def _env_kwargs(value: Any) -> dict[str, Any]:
    """rl-zoo3's ``env_kwargs`` (a mapping or a ``"dict(...)"`` string), limited to the reward's
    terms (ENV_KWARGS), with their ranges checked here rather than deep in the env."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = parse_call_string(value, "env_kwargs")
    if not isinstance(value, dict):
        raise TrainConfigError(f"env_kwargs: {value!r}; expected a mapping or \"dict(...)\"")
    bad = sorted(set(value) - set(ENV_KWARGS))
    if bad:
        raise TrainConfigError(f"env_kwargs: {', '.join(map(str, bad))} not allowed; allowed: "
                               f"{', '.join(ENV_KWARGS)} (the reward's terms; the action and "
                               "observation stay the task's)")
    out: dict[str, Any] = {}
    if "beta" in value:
        b = value["beta"]
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.0 <= b <= 1.0:
            raise TrainConfigError(f"env_kwargs.beta: {b!r}; allowed: a number in [0, 1]")
        out["beta"] = float(b)
    if "m_cap_bytes" in value:
        m = value["m_cap_bytes"]
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) \
                or m <= 0 or int(m) != m:
            raise TrainConfigError(f"env_kwargs.m_cap_bytes: {m!r}; allowed: a whole number "
                                   "of bytes > 0")
        out["m_cap_bytes"] = int(m)
    if "churn_cap" in value:
        c = value["churn_cap"]
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float))
                              or not 0 < c < math.inf):
            raise TrainConfigError(f"env_kwargs.churn_cap: {c!r}; allowed: a number > 0, or "
                                   "None (no cap)")
        out["churn_cap"] = None if c is None else float(c)
    return out


class Resolved:
    """A hyperparameter mapping resolved for one algorithm: ``algo_kwargs`` for its
    constructor, ``n_envs``, ``n_timesteps``, ``normalize`` (VecNormalize kwargs, or None)
    and ``raw`` (the file's mapping with the overrides applied, for config.yaml)."""

    def __init__(self, algo: str, raw: dict[str, Any]) -> None:
        self.algo, self.raw = algo, dict(raw)
        cls = algo_class(algo)
        hp = dict(raw)
        bad = [k for k in hp if k in UNSUPPORTED]
        if bad:
            raise TrainConfigError(f"{', '.join(bad)}: rl-zoo3 key(s) that damon-gym train does "
                                   "not support; remove them (rl-zoo3 itself reads them)")
        n_envs = hp.pop("n_envs", 1)
        if isinstance(n_envs, bool) or not isinstance(n_envs, int) or not 1 <= n_envs <= MAX_ENVS:
            raise TrainConfigError(f"n_envs: {n_envs!r}; allowed: an int in [1, {MAX_ENVS}]")
        steps = hp.pop("n_timesteps", None)
        if steps is None or isinstance(steps, bool) or not isinstance(steps, (int, float)) \
                or not math.isfinite(steps) or not 1 <= steps <= MAX_TIMESTEPS:
            raise TrainConfigError(f"n_timesteps: {steps!r}; allowed: a number in "
                                   f"[1, {MAX_TIMESTEPS:.0e}]")
        self.n_envs, self.n_timesteps = int(n_envs), int(steps)
        self.normalize = _normalize(hp.pop("normalize", False))
        self.env_kwargs = _env_kwargs(hp.pop("env_kwargs", None))
        self.policy = _policy(hp.pop("policy", "MlpPolicy"), cls)
        pk = hp.pop("policy_kwargs", None)
        if isinstance(pk, str):
            pk = parse_call_string(pk, "policy_kwargs")
        if pk is not None and not isinstance(pk, dict):
            raise TrainConfigError(f"policy_kwargs: {pk!r}; expected a mapping or \"dict(...)\"")
        for key in ("learning_rate", "clip_range"):
            if key in hp:
                hp[key] = _schedule(hp[key], key)
        allowed = [p for p in inspect.signature(cls.__init__).parameters
                   if p not in ("self", "policy", "env", "policy_kwargs", "tensorboard_log",
                                "verbose", "seed", "device", "_init_setup_model")]
        bad = sorted(set(hp) - set(allowed))
        if bad:
            raise TrainConfigError(f"{', '.join(bad)}: not a hyperparameter of {cls.__name__}; "
                                   f"allowed: {', '.join(ZOO_KEYS + tuple(allowed))}")
        self.policy_kwargs = dict(pk or {})
        self.algo_kwargs = hp

    def with_steps(self, steps: int | None) -> Resolved:
        if steps is None:
            return self
        return Resolved(self.algo, dict(self.raw, n_timesteps=steps))

    def describe(self) -> dict[str, Any]:
        """A JSON-able record of the resolved values (config.yaml beside the model)."""

        def show(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: show(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [show(x) for x in v]
            if isinstance(v, type):
                return f"{v.__module__}.{v.__qualname__}"
            if isinstance(v, (int, float, str, bool)) or v is None:
                return v
            return repr(v)

        return {"algo": self.algo, "n_envs": self.n_envs, "n_timesteps": self.n_timesteps,
                "policy": show(self.policy), "policy_kwargs": show(self.policy_kwargs),
                "normalize": self.normalize, "env_kwargs": self.env_kwargs,
                "algo_kwargs": show(self.algo_kwargs),
                "file": show(self.raw)}
