"""The learning curve of several training runs (issue 12: evaluation reward over training steps,
mean ± 95 % CI over training seeds), from their ``summary.json`` evaluations.

    python -m damon_gym.training.curve out/tune/interleave --out docs/learning_curve_interleave
    python -m damon_gym.training.curve RUN1 RUN2 RUN3 --out docs/learning_curve_interleave

A folder holding ``trials.json`` (``damon-gym train --backend ray --trials K``) stands for its
trials; other folders are single runs. Writes ``OUT.png`` (mean reward per step on the held-out
episodes against env steps, the band the 95 % t-interval over runs) and ``OUT.md`` (the
table), both atomically. Only the evaluation points every run has are used (runs with other
``--eval-freq`` values do not line up); the final evaluation of a run is its last point.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from damon_gym.evaluation.summary import mean_ci
from damon_gym.files import atomic_write_bytes, atomic_write_text


def run_dirs(paths: list[str | Path]) -> list[Path]:
    """Training run folders: each path, or the trials of a ``trials.json`` folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "trials.json").is_file():
            out += [Path(t["out"]) for t in json.loads((p / "trials.json").read_text())["trials"]]
        elif (p / "summary.json").is_file():
            out.append(p)
        else:
            raise ValueError(f"run: {p} holds neither summary.json (a training run) nor "
                             "trials.json (Ray Tune trials)")
    if not out:
        raise ValueError("run: no training run given")
    return out


def curve(runs: list[Path], key: str = "mean_reward_per_step") -> dict[str, Any]:
    """{"steps": [...], "points": [mean_ci over runs at each step], "runs": [...]}; an
    evaluation at the same step count twice (a resumed run's final one) counts once, the
    later."""
    per_run = []
    for r in runs:
        s = json.loads((r / "summary.json").read_text())
        evs = {int(e["timesteps"]): float(e[key]) for e in s.get("evaluations", [])}
        if not evs:
            raise ValueError(f"run: {r} has no evaluation (trained with --eval-suite none?)")
        per_run.append(evs)
    steps = sorted(set.intersection(*(set(e) for e in per_run)))
    if not steps:
        raise ValueError("runs: no evaluation step count is common to all runs (different "
                         "--eval-freq or --n-envs?)")
    return {"key": key, "steps": steps, "runs": [str(r) for r in runs],
            "points": [mean_ci([e[s] for e in per_run]) for s in steps]}


def markdown(c: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", "", f"Held-out evaluation, {c['key'].replace('_', ' ')}, mean ± 95 % "
             f"CI (t) over {len(c['runs'])} training runs.", "",
             "| env steps | mean | ± CI | runs |", "|---:|---:|---:|---:|"]
    for s, p in zip(c["steps"], c["points"], strict=True):
        ci = "-" if p["ci95"] is None else f"{p['ci95']:.4f}"
        lines.append(f"| {s:,} | {p['mean']:.4f} | {ci} | {p['n']} |")
    return "\n".join(lines) + "\n"


def plot(c: dict[str, Any], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.asarray(c["steps"], float)
    m = np.asarray([p["mean"] for p in c["points"]])
    ci = np.asarray([p["ci95"] or 0.0 for p in c["points"]])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, m, marker="o", lw=1.5, label=f"mean of {len(c['runs'])} runs")
    ax.fill_between(x, m - ci, m + ci, alpha=0.25, label="95 % CI")
    ax.set_xlabel("env steps")
    ax.set_ylabel(c["key"].replace("_", " "))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="training run folders, or a Ray Tune trials folder")
    p.add_argument("--out", required=True, help="output path without suffix (.png and .md)")
    p.add_argument("--title", default=None, help="the plot's title")
    args = p.parse_args(argv)
    try:
        c = curve(run_dirs(args.runs))
    except ValueError as e:
        print(f"learning curve: error: {e}", file=sys.stderr)
        return 2
    title = args.title or "learning curve"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out + ".png", plot(c, title))
    atomic_write_text(args.out + ".md", markdown(c, title))
    print(f"{len(c['runs'])} runs, {len(c['steps'])} points -> {args.out}.png, {args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
