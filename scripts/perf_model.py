"""What the performance model says about standard placements, as a table, and a plot of the
three regimes.

    python scripts/perf_model.py --topology P1-SPR --u-target 0.99 --write-fraction 0.5
    python scripts/perf_model.py --topology P1-AMD --u-target 0.3 --hot-fraction 0.2
    python scripts/perf_model.py --plot docs/perf_model_regimes.png

The table lists X (accesses/s), the application's bandwidth, X/X*, the access-weighted mean
latency and per-node utilisation for first-touch all-fast, 1:1 interleave, the kernel's
bandwidth-derived weights (``Topology.auto_weights()``), Colloid's equal-latency split and the
optimum [PM 2.4-2.5]. The plot shows X/X* against the share of accesses on
the slow node(s) for a latency-bound (u_target 0.3), a transition (0.9) and a bandwidth-bound
(0.99) workload.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from damon_gym.memory.topology import load_topology  # noqa: E402
from damon_gym.perf.table import format_table, model_table, regime_curves  # noqa: E402
from damon_gym.units import parse_size  # noqa: E402


def plot_regimes(path: str, topologies: list[str], write_fraction: float = 0.0) -> None:
    """Write the throughput-vs-slow-share figure (PNG, matplotlib Agg), one panel per
    topology."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(topologies), figsize=(4.6 * len(topologies), 3.8),
                             squeeze=False, sharey=True)
    colors = {"latency-bound": "tab:blue", "transition": "tab:orange",
              "bandwidth-bound": "tab:red"}
    for ax, name in zip(axes[0], topologies, strict=True):
        topo = load_topology(name)
        cur = regime_curves(topo, write_fraction=write_fraction)
        s = cur["slow_share"]
        for label, y in cur["curves"].items():
            ax.plot(s, y, color=colors.get(label), label=label)
            opt = cur["optimum"][label]
            ax.plot([opt], [1.0], "o", color=colors.get(label), ms=4)
        styles = iter([":", "--", "-."])
        for mark, x in cur["marks"].items():
            ax.axvline(x, color="gray", ls=next(styles), lw=1, label=mark)
        bw = "/".join(f"{n.bw_read_gbps:g}" for n in topo.nodes)
        lat = "/".join(f"{n.idle_latency_ns:g}" for n in topo.nodes)
        ax.set_title(f"{name}: {bw} GB/s, {lat} ns", fontsize=9)
        ax.set_xlabel("share of accesses on the slow node(s)")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower left")
    axes[0][0].set_ylabel("throughput X / X*")
    fig.suptitle("damon-gym performance model: throughput vs placement in three regimes "
                 "(u_target 0.3 / 0.9 / 0.99; dots: optimum)", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topology", default="P1-SPR", help="preset name or YAML path")
    ap.add_argument("--u-target", type=float, default=0.99,
                    help="intensity: fast-node utilisation with every page there (0, 0.99]")
    ap.add_argument("--write-fraction", type=float, default=0.0, help="omega in [0, 1]")
    ap.add_argument("--hot-fraction", type=float, default=1.0,
                    help="fraction of the footprint that is hot (1 = uniform)")
    ap.add_argument("--hot-share", type=float, default=0.9,
                    help="share of accesses going to the hot fraction")
    ap.add_argument("--footprint", default=None, help="workload size, e.g. '64 GiB'")
    ap.add_argument("--bg-gbps", type=float, default=0.0,
                    help="background traffic on the fast node (GB/s)")
    ap.add_argument("--think-ns", type=float, default=None, help="think time Z (ns)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--plot", metavar="PATH", help="write the regimes plot (PNG) and exit")
    ap.add_argument("--plot-topologies", default="P1-AMD,P1-SPR,P2",
                    help="comma-separated presets, one panel each")
    args = ap.parse_args(argv)
    if args.plot:
        plot_regimes(args.plot, [t.strip() for t in args.plot_topologies.split(",")],
                     args.write_fraction)
        print(f"wrote {args.plot}")
        return 0
    topo = load_topology(args.topology)
    bg = [0.0] * topo.nr_nodes
    bg[topo.cpu_node] = args.bg_gbps * 1e9
    rows = model_table(topo, u_target=args.u_target, write_fraction=args.write_fraction,
                       hot_fraction=args.hot_fraction, hot_share=args.hot_share,
                       footprint_bytes=None if args.footprint is None
                       else parse_size(args.footprint, "footprint"),
                       bg_bytes_s=bg, think_ns=args.think_ns)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        hot = "uniform hotness" if args.hot_fraction >= 1 else \
            f"{args.hot_fraction:g} of the footprint gets {args.hot_share:g} of the accesses"
        print(f"{topo.name}: u_target {args.u_target}, omega {args.write_fraction}, {hot}, "
              f"background {args.bg_gbps:g} GB/s on node {topo.cpu_node}")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
