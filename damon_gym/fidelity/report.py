"""The fidelity report: the comparison of ``compare.compare`` as markdown (one row per metric:
real runs' distribution, the simulator's, the tolerance and pass/fail) and plots, and the
``damon-gym fidelity`` command that writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from damon_gym.fidelity.compare import compare
from damon_gym.fidelity.verdict import MIB


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "never"
    if metric.startswith(("wss", "target_bytes")) or metric.endswith((".sz_tried", ".sz_applied")):
        return f"{v / MIB:,.1f} MiB"
    if metric.startswith("t_"):
        return f"{v:g} s"
    return f"{v:,.1f}" if v != int(v) else f"{int(v):,}"


def _cell(metric: str, s: dict) -> str:
    if s["n"] == 0:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{_fmt(metric, s['median'])} (n={s['n']})"
    return (f"{_fmt(metric, s['median'])} [{_fmt(metric, s['min'])} .. "
            f"{_fmt(metric, s['max'])}] (n={s['n']})")


def markdown(res: dict, plot_name: str | None) -> str:
    lines = [f"# Fidelity: {res['scenario']}", "",
             f"Simulator: {res['sim_runs']} runs (seeds 0..{res['sim_runs'] - 1}), scenario hash "
             f"`{res['content_hash']}`. Cells: median [min .. max] over runs. Pass when "
             "|median(sim) - median(real)| <= max(abs_tol, rel_tol x |median(real)|, "
             "real max - min); the tolerances and why are in damon_gym/fidelity/compare.py.", ""]
    if plot_name:
        lines += [f"![region count, wss and hot pages on node 0 over time]({plot_name})", ""]
    for k in res["kernels"]:
        lines += [f"## {k['kernel']} ({k['real_runs']} real runs)", "",
                  f"Made by: `{k['command']}`; host 1-min load during the runs: "
                  f"{', '.join(str(x) for x in k['host_load_1min'])}.", ""]
        if k.get("sim_kernel"):
            lines += [f"The simulator follows {k['sim_kernel']}'s DAMOS quota rules here "
                      f"(scenario `kernel: \"{k['sim_kernel']}\"`, docs/damon_semantics.md "
                      "[DS 4.1]).", ""]
        if k["refused"]:
            lines += [f"**The kernel refused the scenario**: `{json.dumps(k['refused'])}`; the "
                      "metrics that need its runs are n/a.", ""]
        pace = next((r for r in k["rows"] if r["metric"] == "applies"), None)
        if pace and pace["real"]["n"] and pace["sim"]["n"] and pace["sim"]["median"]:
            frac = pace["real"]["median"] / pace["sim"]["median"]
            lines += [f"Guest pace: DAMON applied its schemes {pace['real']['median']:.0f} times "
                      f"in the guest against the {pace['sim']['median']:.0f} its intervals ask "
                      f"for ({frac:.0%})." + (
                          " Below 90 %, the guest fell behind DAMON's clock (qemu TCG, the "
                          "more so on a loaded host): counts per run (applies, nr_tried, "
                          "sz_tried) and "
                          "nr_accesses (the workload must touch its pages in every 5 ms "
                          "sample) disagree for the bench's sake, not the simulator's; "
                          "tried_per_apply is the pace-free view." if frac < 0.9 else ""), ""]
        lines += ["| metric | real kernel | simulator | allowed | verdict |",
                  "|---|---|---|---|---|"]
        for row in k["rows"]:
            m = row["metric"]
            allowed = "-" if row["allowed"] is None else _fmt(m, row["allowed"])
            lines.append(f"| {m} | {_cell(m, row['real'])} | {_cell(m, row['sim'])} | "
                         f"{allowed} | {row['verdict']} |")
        n_pass = sum(r["verdict"] == "pass" for r in k["rows"])
        n_fail = sum(r["verdict"] == "FAIL" for r in k["rows"])
        lines += ["", f"{n_pass} pass, {n_fail} fail, "
                  f"{len(k['rows']) - n_pass - n_fail} not applicable.", ""]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ci, k in enumerate(res["kernels"]):
        for j, s in enumerate(k["series_real"]):
            lab = k["kernel"] if j == 0 else None
            c = colors[ci % len(colors)]
            axes[0].plot(s["t"], s["regions"], color=c, alpha=0.7, label=lab)
            axes[1].plot(s["t"], np.array(s["wss"]) / MIB, color=c, alpha=0.7, label=lab)
            axes[2].plot(s["pages_t"], s["hot_n0"], color=c, alpha=0.7, label=lab)
    styles = ["k--", "k:", "k-.", "k-"]
    for gi, group in enumerate(res["series_sim"]):
        kernels = [k for k in group["kernels"] if k]
        name = "simulator" + (f" ({', '.join(kernels)} rules)" if kernels else "")
        st = styles[gi % len(styles)]
        for j, s in enumerate(group["series"]):
            lab = name if j == 0 else None
            axes[0].plot(s["t"], s["regions"], st, alpha=0.8, label=lab)
            axes[1].plot(s["t"], np.array(s["wss"]) / MIB, st, alpha=0.8, label=lab)
            axes[2].plot(s["pages_t"], s["hot_n0"], st, alpha=0.8, label=lab)
    for ax, title in zip(axes, ("regions (monitored context)", "damo wss (MiB)",
                                "hot pages on node 0"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("s since DAMON on")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{res['scenario']}: real kernels vs the simulator")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def main_fidelity(args) -> int:
    from damon_gym.files import atomic_write_text

    res = compare([Path(d) for d in args.real], args.scenario, args.runs)
    out = Path(args.out)
    png = out / f"{res['scenario']}.png"
    plot(res, png)
    md = markdown(res, png.name)
    atomic_write_text(out / f"{res['scenario']}.md", md)
    if args.json:
        atomic_write_text(args.json, json.dumps(res, indent=1, default=float) + "\n")
    for k in res["kernels"]:
        n_fail = sum(r["verdict"] == "FAIL" for r in k["rows"])
        n_pass = sum(r["verdict"] == "pass" for r in k["rows"])
        print(f"{res['scenario']} vs {k['kernel']}: {n_pass} pass, {n_fail} fail"
              + (f" (kernel refused: {k['refused']})" if k["refused"] else ""))
    print(f"report: {out / (res['scenario'] + '.md')}")
    return 0
