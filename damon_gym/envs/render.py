"""Rendering of the DamonGym environments: an ANSI per-node table and an RGB picture.

The picture (240 x 480, uint8) is drawn with numpy alone, so rendering costs no matplotlib
import: on the left one column group per node (bars: used memory, DAMON-hot share, weight
share, bandwidth utilisation); on the right perf_norm over the episode's steps.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from damon_gym.envs.spaces import NF
from damon_gym.simulation import Simulation


class RenderedEnv(Protocol):
    """What rendering reads of an env (``DamonEnv`` has all of it; a protocol rather than
    an import of ``envs.base``, which imports this module)."""

    @property
    def sim(self) -> Simulation | None: ...
    @property
    def spec(self) -> Any: ...  # gymnasium's EnvSpec or None
    @property
    def steps(self) -> int: ...
    @property
    def history(self) -> list[float]: ...
    @property
    def topology(self) -> Any: ...
    @property
    def nr_nodes(self) -> int: ...
    @property
    def _last_perf(self) -> Any: ...
    def _observe(self) -> np.ndarray: ...

COLOURS = np.array([[66, 133, 244], [219, 68, 55], [244, 180, 0], [15, 157, 88]], np.uint8)


def ansi(env: RenderedEnv) -> str:
    if env.sim is None:
        raise RuntimeError("render: call reset() before render()")
    obs = env._observe()
    p = env._last_perf
    lines = [f"{env.spec.id if env.spec else type(env).__name__}  step {env.steps}  "
             f"t={env.sim.now_us / 1e6:.1f}s  perf_norm={env.history[-1] if env.history else 0:.3f}  "
             f"X={p.X:.3g}/s  X*={p.X_star:.3g}/s  migrated={p.migrated_bytes / 2**20:.1f} MiB",
             f"{'node':>4} {'name':>6} {'used':>6} {'hot':>6} {'weight':>6} {'util':>6} "
             f"{'lat/L0':>7} {'share':>6}"]
    for i, nd in enumerate(env.topology.nodes):
        o = obs[i * NF:(i + 1) * NF]
        lines.append(f"{i:>4} {nd.name[:6]:>6} {o[1]:6.2f} {o[2]:6.2f} {o[9]:6.2f} "
                     f"{o[7]:6.2f} {o[8]:7.2f} {p.shares[i]:6.2f}")
    return "\n".join(lines) + "\n"


def rgb(env: RenderedEnv, height: int = 240, width: int = 480) -> np.ndarray:
    img = np.full((height, width, 3), 255, np.uint8)
    obs = env._observe()
    n = env.nr_nodes
    left = width // 2
    group = left // max(n, 1)
    bar = max(group // 5, 2)
    base = height - 20
    for i in range(n):
        o = obs[i * NF:(i + 1) * NF]
        for k, v in enumerate((o[1], o[2], o[9], o[7])):
            x0 = i * group + 4 + k * bar
            h = int(np.clip(v, 0.0, 1.0) * (base - 20))
            img[base - h:base, x0:x0 + bar - 1] = COLOURS[k]
    img[base:base + 1, :left] = 0
    hist = np.asarray(env.history[-(width - left - 10):], dtype=float)
    img[20:base, left + 5:left + 6] = 0
    if hist.size:
        xs = left + 6 + np.arange(hist.size)
        ys = (base - 1 - np.clip(hist, 0, 1) * (base - 21)).astype(int)
        img[ys, xs] = (0, 0, 0)
        img[np.minimum(ys + 1, height - 1), xs] = (0, 0, 0)
    return img
