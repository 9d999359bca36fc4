"""Write docs/leaderboard.md: every registered agent on the `test` suite, each task, 3 seeds per
scenario, from a real `damon-gym eval` run.

    python scripts/leaderboard_doc.py [--jobs 2] [--seeds 3] [--from-dir DIR]

``--from-dir DIR`` assembles the document from ``DIR/<Task>/summary.md`` of runs made before
(``damon-gym eval --task T --suite test --agents all --seeds 3 --out DIR/T``) instead of
running them again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from damon_gym.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("Interleave", "Tiering", "Joint")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--from-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "leaderboard.md")
    args = ap.parse_args()
    base = args.from_dir or Path(tempfile.mkdtemp(prefix="leaderboard-"))
    t0 = time.perf_counter()
    if args.from_dir is None:
        for task in TASKS:
            subprocess.run([sys.executable, "-m", "damon_gym.cli", "eval", "--task", task,
                            "--suite", "test", "--agents", "all", "--seeds", str(args.seeds),
                            "--jobs", str(args.jobs), "--out", str(base / task), "--no-plots"],
                           check=True)
    parts = ["""# Leaderboard: every agent on the `test` suite

`damon-gym eval --task TASK --suite test --agents all --seeds 3` for each task (regenerate with
`python scripts/leaderboard_doc.py`): every registered agent (`damon-gym agents`) on every
scenario of the `test` suite meant for the task -- held-out topologies (P3, P4, 2S-2CXL, a
Meta-like and a small-DDR P3 machine) and workload families (merci, gups-hotset-move,
taobench, the replay of a real damo record) -- with the suite's first 3 seeds of each. Per
agent: the geometric mean over scenarios of the episode-mean perf_norm (X/X*), as mean ± 95 %
CI over the seed index; the same normalised to B2 (`b2-bw-weights`, the kernel's
bandwidth-derived weights without DAMOS migration); mean reward (perf_norm minus the churn
penalty, docs/reward.md); migrated GiB per episode. The instant, burst and phase oracles
and all-fast are references: the oracles read ground truth.
"""]
    for task in TASKS:
        summary = (base / task / "summary.md").read_text()
        rows = [json.loads(x) for x in (base / task / "results.jsonl").read_text().splitlines()
                if x.strip()]
        scen = sorted({r["scenario"] for r in rows})
        body = summary.split("\n", 1)[1] if summary.startswith("#") else summary
        parts.append(f"## {task}\n\n{len(rows)} episodes over {len(scen)} scenarios "
                     f"({', '.join(scen)}).\n\n{body.strip()}\n")
    if args.from_dir is None:
        parts.append(f"\n_Run time: {time.perf_counter() - t0:.0f} s on this machine._\n")
    atomic_write_text(args.out, "\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
