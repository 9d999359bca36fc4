"""A topology-general policy for the DamonGym observation: the nodes are a set.

The observation (``damon_gym.envs.spaces``) is ``N_MAX`` (8) node blocks of ``NF`` (12)
features, the first of which is the node mask (1: the node exists), then ``G`` (5) global
features. A flat MLP over it learns one weight per slot: what it learns for slot 2 on a
3-node machine says nothing about slot 3 of a 4-node one. Here instead

* ``NodeSetExtractor`` encodes every existing node with one shared MLP (the same weights for
  every slot), pools the encodings with a masked mean and a masked max (absent slots take no
  part, so the result does not depend on how many nodes there are nor on their order), encodes
  the global features, and mixes pooled + global into a *context* vector;
* the action head is per node too: the weight preference of node ``i`` is one shared MLP of
  (node ``i``'s encoding, the context), so a 3- or 4-node machine gets a preference for each of
  its nodes from the same weights a 2-node one trained; the actions that are not per node
  (quota, tiering targets) and the value come from the context. Absent slots get the action
  ``-1`` (the env ignores them; ``-1`` is also "no share" in the weight mapping).

``NodeSetPolicy`` is the actor-critic policy of PPO and A2C; ``NodeSetSACPolicy`` SAC's (the
same extractor and per-node mean / log-std heads; its critics read the context and the action).

Inputs are not normalised by running statistics: the features are already ratios in [0, 1],
except ``latency_rel`` (0..64) and the global migrated/tried/applied ratios (0..128), which the
extractor squashes with ``log1p``. (Per-slot running statistics, as ``VecNormalize`` keeps
them, would break the set view: a slot never seen in training has zero variance and a mask
normalised to 0. Train with ``normalize: "dict(norm_obs=False, norm_reward=True)"``.)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import Actor, SACPolicy
from torch import nn

from damon_gym.envs.spaces import GLOBAL_FEATURES, N_MAX, NF, NODE_FEATURES

G = len(GLOBAL_FEATURES)
#: node features squashed with log1p (unbounded ratios); indices within a node block
_NODE_LOG = tuple(j for j, f in enumerate(NODE_FEATURES) if f[2] > 1.0)
#: global features squashed with log1p
_GLOBAL_LOG = tuple(j for j, f in enumerate(GLOBAL_FEATURES) if f[2] > 1.0)
ABSENT_ACTION = -1.0


def _mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU, last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_act or i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def node_actions_for(action_dim: int) -> int:
    """How many leading action components are per-node slots: ``N_MAX`` for Interleave
    (``N_MAX + 1``) and Joint (``N_MAX + 5``), 0 for Tiering (4)."""
    return N_MAX if action_dim in (N_MAX + 1, N_MAX + 5) else 0


class NodeSetExtractor(BaseFeaturesExtractor):
    """Observation -> ``[node encodings (N_MAX * node_dim) | mask (N_MAX) | context
    (context_dim)]`` (``output="full"``, what the per-node heads read) or the context alone
    (``output="context"``, size-invariant, for plain MLP heads such as SAC's critics)."""

    # buffers registered in __init__ (nn.Module's attribute lookup does not type them)
    _node_log: th.Tensor
    _global_log: th.Tensor

    def __init__(self, observation_space: gym.spaces.Box, node_dim: int = 64,
                 global_dim: int = 32, context_dim: int = 64, output: str = "full") -> None:
        want = N_MAX * NF + G
        if observation_space.shape != (want,):
            raise ValueError(f"observation space: shape {observation_space.shape}; the node-set "
                             f"extractor reads DamonGym observations of shape ({want},)")
        if output not in ("full", "context"):
            raise ValueError(f"output: {output!r}; allowed: 'full', 'context'")
        for name, v in (("node_dim", node_dim), ("global_dim", global_dim),
                        ("context_dim", context_dim)):
            if not isinstance(v, int) or not 1 <= v <= 4096:
                raise ValueError(f"{name}: {v!r}; allowed: an int in [1, 4096]")
        dim = N_MAX * node_dim + N_MAX + context_dim if output == "full" else context_dim
        super().__init__(observation_space, features_dim=dim)
        self.node_dim, self.context_dim, self.output = node_dim, context_dim, output
        self.node_enc = _mlp([NF - 1, node_dim, node_dim])
        self.global_enc = _mlp([G + 1, global_dim])
        self.context = _mlp([2 * node_dim + global_dim, context_dim])
        self.register_buffer("_node_log", th.zeros(NF - 1, dtype=th.bool), persistent=False)
        self.register_buffer("_global_log", th.zeros(G, dtype=th.bool), persistent=False)
        self._node_log[[j - 1 for j in _NODE_LOG]] = True
        self._global_log[list(_GLOBAL_LOG)] = True

    def encode(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """(node encodings (B, N_MAX, node_dim), zero at absent slots; mask (B, N_MAX);
        context (B, context_dim))."""
        nodes = obs[:, : N_MAX * NF].reshape(-1, N_MAX, NF)
        mask = (nodes[..., 0] > 0.5).to(obs.dtype)
        x = nodes[..., 1:]
        x = th.where(self._node_log, th.log1p(x.clamp(min=0.0)), x)
        glob = obs[:, N_MAX * NF:]
        glob = th.where(self._global_log, th.log1p(glob.clamp(min=0.0)), glob)
        count = mask.sum(dim=1, keepdim=True)
        emb = self.node_enc(x) * mask.unsqueeze(-1)
        mean = emb.sum(dim=1) / count.clamp(min=1.0)
        neg = th.finfo(emb.dtype).min
        mx = emb.masked_fill(mask.unsqueeze(-1) < 0.5, neg).amax(dim=1)
        mx = th.where(count > 0, mx, th.zeros_like(mx))  # no node at all: zeros, not -inf
        g = self.global_enc(th.cat([glob, count / N_MAX], dim=1))
        ctx = self.context(th.cat([mean, mx, g], dim=1))
        return emb, mask, ctx

    def forward(self, obs: th.Tensor) -> th.Tensor:
        emb, mask, ctx = self.encode(obs)
        if self.output == "context":
            return ctx
        return th.cat([emb.flatten(1), mask, ctx], dim=1)


def split_features(features: th.Tensor, node_dim: int, context_dim: int
                   ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """The inverse of the ``full`` layout: (encodings, mask, context)."""
    emb = features[:, : N_MAX * node_dim].reshape(-1, N_MAX, node_dim)
    mask = features[:, N_MAX * node_dim: N_MAX * node_dim + N_MAX]
    ctx = features[:, N_MAX * node_dim + N_MAX:]
    assert ctx.shape[1] == context_dim
    return emb, mask, ctx


class NodeActionHead(nn.Module):
    """``full`` features -> ``action_dim`` outputs: the first ``node_actions`` from a shared
    per-node MLP of (node encoding, context) (``absent`` where the mask is 0), the rest from
    an MLP of the context."""

    def __init__(self, node_dim: int, context_dim: int, action_dim: int, node_actions: int,
                 hidden: int = 64, absent: float = ABSENT_ACTION, out_gain: float = 0.01) -> None:
        super().__init__()
        if node_actions not in (0, N_MAX) or node_actions > action_dim:
            raise ValueError(f"node_actions: {node_actions!r}; allowed: 0 or {N_MAX} (and at "
                             f"most the action dimension {action_dim})")
        self.node_dim, self.context_dim = node_dim, context_dim
        self.node_actions, self.n_global, self.absent = node_actions, action_dim - node_actions, absent
        self.per_node = _mlp([node_dim + context_dim, hidden, 1], last_act=False) \
            if node_actions else None
        self.glob = _mlp([context_dim, hidden, self.n_global], last_act=False) \
            if self.n_global else None
        for head in (self.per_node, self.glob):  # small last layer: start near the middle
            if head is not None:
                last = head[-1]
                assert isinstance(last, nn.Linear)  # _mlp(..., last_act=False) ends in one
                nn.init.orthogonal_(last.weight, gain=out_gain)
                nn.init.zeros_(last.bias)

    def forward(self, features: th.Tensor) -> th.Tensor:
        emb, mask, ctx = split_features(features, self.node_dim, self.context_dim)
        parts = []
        if self.per_node is not None:
            both = th.cat([emb, ctx.unsqueeze(1).expand(-1, N_MAX, -1)], dim=2)
            a = self.per_node(both).squeeze(-1)
            parts.append(th.where(mask > 0.5, a, th.full_like(a, self.absent)))
        if self.glob is not None:
            parts.append(self.glob(ctx))
        return th.cat(parts, dim=1)


def _node_set(fe: nn.Module) -> NodeSetExtractor:
    """The policy's features extractor, which the per-node heads read."""
    if not isinstance(fe, NodeSetExtractor):
        raise TypeError(f"features_extractor_class: {type(fe).__name__}; the node-set heads "
                        "read a NodeSetExtractor's node encodings")
    return fe


def _action_dim(space: gym.Space) -> int:
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"action space: {type(space).__name__}; the node-set heads need a Box")
    return int(space.shape[0])


class _Latent(nn.Module):
    """The ``mlp_extractor`` of ``NodeSetPolicy``: the actor's latent is the features
    themselves (the per-node head splits them), the critic's an MLP of the context."""

    def __init__(self, features_dim: int, context_dim: int, vf_arch: list[int]) -> None:
        super().__init__()
        self.context_dim = context_dim
        self.vf = _mlp([context_dim, *vf_arch]) if vf_arch else nn.Identity()
        self.latent_dim_pi = features_dim
        self.latent_dim_vf = vf_arch[-1] if vf_arch else context_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return features

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.vf(features[:, -self.context_dim:])


def _vf_arch(net_arch: Any) -> list[int]:
    if net_arch is None:
        return [64]
    if isinstance(net_arch, dict):
        return list(net_arch.get("vf", [64]))
    return list(net_arch)


class NodeSetPolicy(ActorCriticPolicy):
    """PPO/A2C policy over the node set (module docstring). ``net_arch``: the value MLP's
    hidden sizes (a list, or ``dict(vf=[...])``; default ``[64]``); ``head_dim``: the hidden
    size of the action heads; ``node_actions``: leading per-node action components (default
    from the action dimension, ``node_actions_for``); ``features_extractor_kwargs`` go to
    ``NodeSetExtractor`` (``node_dim``, ``global_dim``, ``context_dim``)."""

    def __init__(self, observation_space, action_space, lr_schedule, net_arch=None,
                 head_dim: int = 64, node_actions: int | None = None, **kwargs) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise ValueError("NodeSetPolicy needs a Box action space (action_type='box')")
        self.head_dim = head_dim
        self.node_actions = (node_actions_for(action_space.shape[0]) if node_actions is None
                             else node_actions)
        kwargs.setdefault("features_extractor_class", NodeSetExtractor)
        kwargs.setdefault("share_features_extractor", True)
        super().__init__(observation_space, action_space, lr_schedule, net_arch=net_arch,
                         **kwargs)

    def _build_mlp_extractor(self) -> None:
        fe = _node_set(self.features_extractor)
        # SB3 declares an MlpExtractor; it uses only latent_dim_pi/vf and forward_actor/critic,
        # which _Latent provides
        self.mlp_extractor = _Latent(  # type: ignore[assignment]
            fe.features_dim, fe.context_dim, _vf_arch(self.net_arch))

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)  # value net, log_std, orthogonal init, a Linear action net
        fe = _node_set(self.features_extractor)
        self.action_net = NodeActionHead(fe.node_dim, fe.context_dim,
                                         _action_dim(self.action_space), self.node_actions,
                                         hidden=self.head_dim)
        # the optimiser must hold the new head's parameters, not the replaced Linear's;
        # optimizer_class is a concrete optimiser (Adam by default) taking lr, while torch
        # types it as the base Optimizer, whose __init__ has none (SB3's _build does the same)
        self.optimizer = self.optimizer_class(self.parameters(),  # type: ignore[call-arg]
                                              lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(head_dim=self.head_dim, node_actions=self.node_actions)
        return data


class NodeSetActor(Actor):
    """SAC's actor with per-node mean and log-std heads (the extractor's ``full`` output)."""

    def __init__(self, *args, head_dim: int = 64, node_actions: int = 0, **kwargs) -> None:
        if kwargs.get("use_sde"):
            raise ValueError("use_sde: True is not supported by the node-set SAC policy; "
                             "allowed: False")
        kwargs["net_arch"] = []  # the latent is the features; the heads have their own layers
        super().__init__(*args, **kwargs)
        fe = _node_set(self.features_extractor)
        dim = _action_dim(self.action_space)
        self.head_dim, self.node_actions = head_dim, node_actions
        # absent slots: a squashed mean of tanh(-3) ~ -1 and the smallest std SAC allows
        self.mu = NodeActionHead(fe.node_dim, fe.context_dim, dim, node_actions, head_dim,
                                 absent=-3.0, out_gain=1.0)
        # SB3's Actor types log_std by its gSDE branch (a Parameter); without gSDE (refused
        # above) it is a module mapping the latent to log-stds, as this head is
        self.log_std = NodeActionHead(  # type: ignore[assignment]
            fe.node_dim, fe.context_dim, dim, node_actions, head_dim, absent=-20.0, out_gain=1.0)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(head_dim=self.head_dim, node_actions=self.node_actions)
        return data


class NodeSetSACPolicy(SACPolicy):
    """SAC policy over the node set: ``NodeSetActor`` and critics on a context-only extractor
    (``net_arch`` their hidden sizes, default ``[64, 64]``)."""

    def __init__(self, observation_space, action_space, lr_schedule, net_arch=None,
                 head_dim: int = 64, node_actions: int | None = None, **kwargs) -> None:
        self.head_dim = head_dim
        self.node_actions = (node_actions_for(action_space.shape[0]) if node_actions is None
                             else node_actions)
        kwargs.setdefault("features_extractor_class", NodeSetExtractor)
        kwargs["share_features_extractor"] = False
        super().__init__(observation_space, action_space, lr_schedule,
                         net_arch=net_arch if net_arch is not None else [64, 64], **kwargs)

    def make_actor(self, features_extractor=None) -> NodeSetActor:
        kw = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return NodeSetActor(**kw, head_dim=self.head_dim,
                            node_actions=self.node_actions).to(self.device)

    def make_critic(self, features_extractor=None):
        if features_extractor is None:
            fkw = dict(self.features_extractor_kwargs, output="context")
            features_extractor = self.features_extractor_class(self.observation_space, **fkw)
        return super().make_critic(features_extractor)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(head_dim=self.head_dim, node_actions=self.node_actions)
        return data


__all__ = ["NodeSetExtractor", "NodeActionHead", "NodeSetPolicy", "NodeSetSACPolicy",
           "NodeSetActor", "node_actions_for", "ABSENT_ACTION"]
