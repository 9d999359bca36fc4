"""Run every benchmark in this folder and print the figures (ratios measured in one run).

    python benchmarks/run_all.py [--out benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_damos  # noqa: E402
import bench_envs  # noqa: E402
import bench_monitoring  # noqa: E402
import bench_perf_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results.json"))
    args = ap.parse_args()
    t0 = time.time()
    results = {"machine": platform.platform(), "python": platform.python_version(),
               "monitoring": bench_monitoring.run(), "damos": bench_damos.run(),
               "perf_model": bench_perf_model.run(), "envs": bench_envs.run()}
    results["wall_s"] = round(time.time() - t0, 1)
    text = json.dumps(results, indent=2)
    print(text)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
