"""The evaluation's plots (matplotlib, Agg, PNG): X/X* over time per agent on one episode,
placement (used GiB per node) over time per agent, and the Colloid-style heatmap of an agent's
improvement over B2 across background load x slow-node latency."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_throughput(traces: list[dict], path: str | Path, title: str) -> Path:
    """X/X* per step, one line per agent (the traces of one episode)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for tr in traces:
        ax.plot(tr["t_s"], tr["x_over_xstar"], label=tr["agent"], lw=1.4)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("throughput / X*")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_placement(traces: list[dict], path: str | Path, title: str) -> Path:
    """Used GiB per node over time, stacked, one panel per agent."""
    plt = _plt()
    n = len(traces)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.8), sharex=True, squeeze=False)
    for ax, tr in zip(axes[:, 0], traces, strict=True):
        used = np.asarray(tr["node_used_gib"], float)
        if used.size:
            ax.stackplot(tr["t_s"], used.T, labels=[f"node {i}" for i in range(used.shape[1])])
        ax.set_ylabel("GiB")
        ax.set_title(tr["agent"], fontsize="small", loc="left")
    axes[0, 0].legend(fontsize="x-small", loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_heatmap(grid: np.ndarray, cores, latencies, path: str | Path, title: str) -> Path:
    """``grid[i, j]``: improvement (%) at background cores ``cores[i]`` and slow-node idle
    latency ``latencies[j]``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    lim = max(1.0, float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0)
    im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, origin="lower")
    ax.set_xticks(range(len(latencies)), [f"{v:g}" for v in latencies])
    ax.set_yticks(range(len(cores)), [f"{v:g}" for v in cores])
    ax.set_xlabel("slow-node idle latency (ns)")
    ax.set_ylabel("background cores")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, "–" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:+.1f} %",
                    ha="center", va="center", fontsize="small")
    fig.colorbar(im, ax=ax, label="improvement over B2 (%)")
    ax.set_title(title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
