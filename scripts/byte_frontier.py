"""How much perf_norm the instant oracle's own migrations can buy per migrated byte, against
an evaluation's heuristic and issue 12's bar (damon_gym/evaluation/byte_frontier.py says how).

    python scripts/byte_frontier.py --task Tiering --seeds 5 \
        --results out/eval/tiering/results.jsonl --reference b4-colloid \
        [--suite test] [--jobs 2] [--replay] [--out out/byte_frontier_tiering.json] \
        [--plot docs/byte_frontier_tiering.png]

Prints the reference and the bar, the oracle as played, the best choice of its moves per
phase within the reference's bytes (exact whole cuts and the relaxation) and, with
``--replay``, that choice played for real. ``--out`` writes the figures, both frontiers and
the episodes; ``--plot`` draws the frontiers with every agent of ``--results`` that played all
the episodes, the replayed choice and the bar.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from damon_gym.evaluation.byte_frontier import (
    UNITS,
    as_played,
    evaluated,
    frontier,
    phase_spans,
    play_oracle,
    replay,
    whole_cut_choice,
    whole_cuts,
)
from damon_gym.files import atomic_write_bytes, atomic_write_text


def _plot(path: Path, task: str, points: list[dict], whole: list[dict],
          plays: dict[str, dict], ref: str, bar: float, oracle_floor: float,
          replayed: dict | None = None) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([p["gib_per_episode"] for p in points], [p["geomean"] for p in points],
            color="C0", ls="--", label="instant-oracle's moves cut per phase, relaxed")
    ax.step([p["gib_per_episode"] for p in whole], [p["geomean"] for p in whole],
            where="post", color="C0", label="instant-oracle's moves, one whole cut per phase")
    for name, p in plays.items():
        ax.scatter(p["gib_per_episode"], p["geomean"], s=14,
                   color="C3" if name == ref else "0.4", zorder=3)
        algo, _, model = name.partition(":")  # a trained model: its folder's name
        label = f"{algo}:{Path(model.removesuffix('/ppo.zip')).name}" if "/" in model else name
        ax.annotate(label, (p["gib_per_episode"], p["geomean"]), fontsize=6,
                    xytext=(3, 2), textcoords="offset points", rotation=20)
    if replayed is not None:
        ax.scatter(replayed["gib_per_episode"], replayed["geomean"], marker="*", s=90,
                   color="C1", zorder=4, label="the best whole cuts within the bar's bytes, "
                   "replayed")
    budget = plays[ref]["gib_per_episode"]
    ax.fill_between([0, budget], max(bar, oracle_floor), 1.0, color="C2", alpha=0.15,
                    label="issue 12's bar")
    ax.set_xlabel("migrated GiB per episode")
    ax.set_ylabel("perf_norm geomean over scenarios")
    ax.set_title(f"{task}: perf_norm per migrated byte (test suite)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xscale("symlog", linthresh=1.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=("Interleave", "Tiering", "Joint"))
    ap.add_argument("--suite", default="test")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--results", type=Path, required=True,
                    help="a damon-gym eval results.jsonl of the same suite and seeds")
    ap.add_argument("--reference", required=True,
                    help="the agent of --results whose migrated bytes are the budget")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--replay", action="store_true",
                    help="also play the best whole-cut choice within the reference's bytes "
                    "(the oracle moving only at the chosen steps): what it gives for real")
    ap.add_argument("--out", type=Path, help="write the figures, the frontiers and every "
                    "episode's oracle play to this JSON file")
    ap.add_argument("--plot", type=Path, help="draw the frontiers, the evaluated plays and "
                    "the bar to this PNG file")
    args = ap.parse_args()
    if args.jobs < 1:
        raise SystemExit(f"--jobs: {args.jobs}; expected an int >= 1")
    from damon_gym.cli_eval import episodes_for

    try:
        eps = episodes_for(args.task, args.suite, [], args.seeds)
        rows = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()]
    except (ValueError, OSError) as e:  # a bad suite, seeds or results file, named
        raise SystemExit(f"byte_frontier: {e}") from None
    plays = evaluated(rows, set(eps))
    if args.reference not in plays:
        raise SystemExit(f"--reference: {args.reference!r} has no row for every episode of "
                         f"{args.results}; complete there: {', '.join(sorted(plays))}")
    with ProcessPoolExecutor(args.jobs) as pool:
        played = list(pool.map(play_oracle, [args.task] * len(eps), [s for s, _ in eps],
                               [seed for _, seed in eps]))
    points = frontier(played)
    ref = plays[args.reference]
    budget = ref["gib_per_episode"]
    best = frontier(played, budget)[-1]
    whole = whole_cuts(played, budget)[-1]
    whole_curve = whole_cuts(played, max(p["gib_per_episode"] for p in points), units=1024)
    nr_phases = sum(len(phase_spans(ep["phase"])) for ep in played)
    slack = nr_phases * budget / UNITS / len(played)
    full = as_played(played)
    oracle_floor = 0.9 * full["geomean"]
    bar = 1.03 * ref["geomean"]
    res = {"task": args.task, "suite": args.suite, "seeds": args.seeds,
           "oracle": "instant-oracle", "reference": args.reference, "reference_play": ref,
           "bar_geomean": bar, "oracle_geomean": full["geomean"],
           "oracle_gib_per_episode": full["gib_per_episode"],
           "relaxed_within_reference_bytes": best,
           "whole_cuts_within_reference_bytes": whole,
           "whole_cuts_rounding_gib_per_episode": slack,
           "frontier_relaxed": points, "frontier_whole_cuts": whole_curve, "plays": plays,
           "episodes": played}
    print(f"{args.task}: {args.reference} {ref['geomean']:.4f} with "
          f"{budget:.2f} GiB per episode; the bar: >= {bar:.4f} "
          f"(and >= {oracle_floor:.4f}, 90 % of the oracle) within those bytes")
    print(f"instant-oracle as played: {full['geomean']:.4f} with "
          f"{full['gib_per_episode']:.2f} GiB per episode")
    print(f"its moves cut per phase within {budget:.2f} GiB per episode, whole cuts: "
          f"{whole['geomean']:.4f} ({whole['geomean'] / ref['geomean']:.4f} x the reference; "
          f"bytes rounded down by < {slack:.2f} GiB per episode); relaxed (parts of hull "
          f"segments): {best['geomean']:.4f} ({best['geomean'] / ref['geomean']:.4f} x)")
    if args.replay:
        follow = whole_cut_choice(played, budget)
        with ProcessPoolExecutor(args.jobs) as pool:
            real = list(pool.map(replay, [args.task] * len(eps), [s for s, _ in eps],
                                 [seed for _, seed in eps], follow))
        res["replayed_whole_cuts"] = as_played(real)
        r = res["replayed_whole_cuts"]
        print(f"that choice replayed: {r['geomean']:.4f} ({r['geomean'] / ref['geomean']:.4f} "
              f"x the reference) with {r['gib_per_episode']:.2f} GiB per episode")
    if args.out:
        atomic_write_text(args.out, json.dumps(res, indent=1) + "\n")
    if args.plot:
        _plot(args.plot, args.task, points, whole_curve, plays, args.reference, bar,
              oracle_floor, res.get("replayed_whole_cuts"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
