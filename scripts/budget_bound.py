"""How far any mix of the plays in an evaluation can get under a migration budget.

For each scenario of a `damon-gym eval` results file, every agent's play is one option (its
mean perf_norm and mean migrated GiB per episode over the seeds). Choosing one option per
scenario with hindsight, the best geometric mean of perf_norm over the scenarios whose
migrated bytes per episode (weighted by the scenarios' episode counts) stay within a
reference agent's: an upper bound on what switching between the evaluated plays -- the
instant oracle's included, if it was evaluated -- can reach on that suite under that budget
(issue 12's bar: 3 % over the best heuristic with no more migrated bytes).

    python scripts/budget_bound.py out/eval/interleave/results.jsonl --reference b8-three-regime \
        [--exclude instant-oracle]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections import defaultdict
from pathlib import Path


def bound(rows: list[dict], reference: str) -> dict:
    plays: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        plays[(r["scenario_name"], r["agent"])].append(r)
    scenarios = sorted({s for s, _ in plays})
    agents = sorted({a for _, a in plays})
    if reference not in agents:
        raise SystemExit(f"--reference: {reference!r} is not in the results; there: "
                         f"{', '.join(agents)}")
    count = {s: len(plays[(s, reference)]) for s in scenarios}
    mean = {(s, a): (sum(x["perf_norm_mean"] for x in v) / len(v),
                     sum(x["migrated_gib"] for x in v) / len(v))
            for (s, a), v in plays.items()}

    def geo(choice) -> float:
        return math.exp(sum(math.log(mean[(s, a)][0]) for s, a in zip(scenarios, choice,
                                                                       strict=True))
                        / len(scenarios))

    def gib(choice) -> float:
        return sum(count[s] * mean[(s, a)][1] for s, a in zip(scenarios, choice, strict=True)) \
            / sum(count.values())

    ref = [reference] * len(scenarios)
    budget = gib(ref)
    best = max((ch for ch in itertools.product(agents, repeat=len(scenarios))
                if all((s, a) in mean for s, a in zip(scenarios, ch, strict=True))
                and gib(ch) <= budget + 1e-9), key=geo)
    return {"reference": reference, "reference_geomean": geo(ref), "budget_gib": budget,
            "best_geomean": geo(best), "best_over_reference": geo(best) / geo(ref),
            "best_gib": gib(best),
            "choice": {s: {"agent": a, "perf_norm": mean[(s, a)][0], "gib": mean[(s, a)][1]}
                       for s, a in zip(scenarios, best, strict=True)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a damon-gym eval results.jsonl")
    ap.add_argument("--reference", default="b8-three-regime",
                    help="the agent whose migrated bytes are the budget")
    ap.add_argument("--exclude", action="append", default=[], metavar="AGENT",
                    help="leave this agent's plays out (repeatable; e.g. instant-oracle)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["agent"] not in args.exclude]
    res = bound(rows, args.reference)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['reference']}: geomean {res['reference_geomean']:.4f}, "
          f"{res['budget_gib']:.2f} GiB per episode")
    print(f"best mix within that budget: geomean {res['best_geomean']:.4f} "
          f"({res['best_over_reference']:.4f} x), {res['best_gib']:.2f} GiB per episode")
    for s, c in res["choice"].items():
        print(f"  {s}: {c['agent']} ({c['perf_norm']:.3f}, {c['gib']:.2f} GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
