"""The summary of a results file: per agent, the geometric mean of perf_norm_mean across the
scenarios, as mean ± 95 % CI over seeds; the same relative to B2; mean reward and migrated GiB.

Seeds: with a suite, scenarios may have different seeds, so "seed k" is each scenario's k-th
seed (in increasing order). For seed k the agent's value is the geomean over the scenarios of
its episodes' perf_norm_mean (``vs B2``: the geomean of ``speedup_vs_B2``); the table gives the
mean of these values over k and the half-width of the 95 % confidence interval of that mean,
``t(0.975, n-1) * sd / sqrt(n)`` (sd with ddof 1; none for n = 1). Mean reward and migrated GiB
are means over all the agent's episodes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from damon_gym.evaluation.eval import b2_name

#: t(0.975, df) for df 1..30
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
GEOMEAN_FLOOR = 1e-9


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (table; 1.96 past
    120)."""
    if df < 1:
        raise ValueError(f"df: {df}; expected >= 1")
    if df <= 30:
        return _T975[df - 1]
    return 2.021 if df <= 40 else 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


def mean_ci(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, float)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "values": []}
    ci = None if n < 2 else float(t975(n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": float(v.mean()), "ci95": ci, "n": n, "values": v.tolist()}


def geomean(values) -> float:
    v = np.maximum(np.asarray(values, float), GEOMEAN_FLOOR)
    return float(np.exp(np.log(v).mean()))


def _per_seed(rows: list[dict], key: str) -> list[float]:
    """For each seed rank k, the geomean over scenarios of ``key`` on the k-th seed."""
    by_sc: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get(key) is not None:
            by_sc[r["scenario"]].append(r)
    ranks: dict[int, list[float]] = defaultdict(list)
    for rs in by_sc.values():
        for k, r in enumerate(sorted(rs, key=lambda r: int(r["seed"]))):
            ranks[k].append(r[key])
    return [geomean(ranks[k]) for k in sorted(ranks)]


def summarize(rows: list[dict], task: str | None = None, order: list[str] | None = None
              ) -> dict[str, Any]:
    """The summary (see the module docstring) of the rows (of ``task`` when given), agents in
    ``order`` (then in order of first appearance). ``best``: the agent with the highest perf_norm geomean, vs B2
    and mean reward, and the lowest migrated GiB."""
    if task is not None:
        rows = [r for r in rows if r["task"] == task]
    present = {r["agent"] for r in rows}
    agents = list(dict.fromkeys([*(a for a in order or [] if a in present),
                                 *(r["agent"] for r in rows)]))
    b2 = b2_name(agents)
    out = []
    for a in agents:
        rs = [r for r in rows if r["agent"] == a]
        rewards = [r["reward_mean"] for r in rs if r["reward_mean"] is not None]
        out.append({
            "agent": a, "episodes": len(rs),
            "scenarios": len({r["scenario"] for r in rs}),
            "perf_norm_geomean": mean_ci(_per_seed(rs, "perf_norm_mean")),
            "vs_B2": mean_ci(_per_seed(rs, "speedup_vs_B2")) if b2 is not None else None,
            "reward_mean": float(np.mean(rewards)) if rewards else None,
            "migrated_gib_mean": float(np.mean([r["migrated_gib"] for r in rs])),
        })

    def pick(get, lowest=False):
        vals = [(get(s), s["agent"]) for s in out if get(s) is not None]
        if not vals:
            return None
        return (min if lowest else max)(vals)[1]

    best = {"perf_norm_geomean": pick(lambda s: s["perf_norm_geomean"]["mean"]),
            "vs_B2": pick(lambda s: s["vs_B2"]["mean"] if s["vs_B2"] else None),
            "reward_mean": pick(lambda s: s["reward_mean"]),
            "migrated_gib_mean": pick(lambda s: s["migrated_gib_mean"], lowest=True)}
    return {"task": task, "b2": b2, "episodes": len(rows), "agents": out, "best": best,
            "by_scenario": by_scenario(rows, agents)}


def by_scenario(rows: list[dict], agents: list[str]) -> list[dict[str, Any]]:
    """Per scenario (in order of first appearance): its topology, and per agent the mean
    perf_norm and migrated GiB over its seeds (the held-out topologies and families read
    apart from the geomean)."""
    out = []
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        rs = [r for r in rows if r["scenario"] == sc]
        cells = {}
        for a in agents:
            ra = [r for r in rs if r["agent"] == a]
            perf = [r["perf_norm_mean"] for r in ra if r.get("perf_norm_mean") is not None]
            cells[a] = {"perf_norm_mean": float(np.mean(perf)) if perf else None,
                        "migrated_gib_mean": float(np.mean([r["migrated_gib"] for r in ra]))
                        if ra else None, "episodes": len(ra)}
        out.append({"scenario": sc, "topology": next((r.get("topology") for r in rs
                                                       if r.get("topology")), None),
                    "agents": cells})
    return out


COLUMNS = ("agent", "episodes", "perf_norm geomean", "vs B2", "mean reward", "migrated GiB")


def _mci(m: dict | None, fmt: str = "{:.3f}") -> str:
    if not m or m["mean"] is None:
        return "–"
    s = fmt.format(m["mean"])
    return s + (f" ± {fmt.format(m['ci95'])}" if m["ci95"] is not None else "")


def table_cells(summary: dict) -> list[tuple[list[str], list[bool]]]:
    """Per agent: the cells of COLUMNS and whether each is the best of its column."""
    best = summary["best"]
    out = []
    for s in summary["agents"]:
        cells = [s["agent"], str(s["episodes"]), _mci(s["perf_norm_geomean"]),
                 _mci(s["vs_B2"]),
                 "–" if s["reward_mean"] is None else f"{s['reward_mean']:.3f}",
                 f"{s['migrated_gib_mean']:.3f}"]
        bold = [False, False, best["perf_norm_geomean"] == s["agent"],
                best["vs_B2"] == s["agent"], best["reward_mean"] == s["agent"],
                best["migrated_gib_mean"] == s["agent"]]
        out.append((cells, bold))
    return out


def _caption(summary: dict) -> str:
    b2 = summary["b2"]
    ref = (f"vs B2: geomean of perf_norm over {b2}'s on the same episodes" if b2
           else "vs B2: – (b2-bw-weights not in the run)")
    return (f"perf_norm geomean across scenarios, mean ± 95 % CI (t) over seeds; {ref}; mean "
            "reward and migrated GiB per episode; best of each column in bold (migrated: "
            "lowest).")


def markdown(summary: dict, title: str) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    lines = []
    for cells, bold in table_cells(summary):
        lines.append("| " + " | ".join(f"**{c}**" if b else c
                                       for c, b in zip(cells, bold, strict=True)) + " |")
    return (f"## {title}\n\n{head}" + "\n".join(lines) + f"\n\n{_caption(summary)}\n"
            + _scenario_markdown(summary))


def _scenario_markdown(summary: dict) -> str:
    """Per scenario, each agent's mean perf_norm (migrated GiB per episode), the best perf_norm
    of the row in bold."""
    rows = summary.get("by_scenario") or []
    agents = [s["agent"] for s in summary["agents"]]
    if len(rows) < 2:
        return ""
    head = ("\n### Per scenario\n\nmean perf_norm over the seeds (migrated GiB per episode)\n\n"
            "| scenario | " + " | ".join(agents) + " |\n|" + "---|" * (len(agents) + 1) + "\n")
    lines = []
    for row in rows:
        vals = {a: row["agents"][a]["perf_norm_mean"] for a in agents}
        top = max((v for v in vals.values() if v is not None), default=None)
        cells = []
        for a in agents:
            c = row["agents"][a]
            if c["perf_norm_mean"] is None:
                cells.append("–")
                continue
            t = f"{c['perf_norm_mean']:.3f} ({c['migrated_gib_mean']:.2f})"
            cells.append(f"**{t}**" if c["perf_norm_mean"] == top else t)
        name = row["scenario"] + (f" ({row['topology']})" if row.get("topology") else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def rich_table(summary: dict, title: str):
    from rich.table import Table

    t = Table(title=title, caption=_caption(summary))
    for c in COLUMNS:
        t.add_column(c, justify="left" if c == "agent" else "right", no_wrap=True)
    for cells, bold in table_cells(summary):
        t.add_row(*(f"[bold]{c}[/bold]" if b else c for c, b in zip(cells, bold, strict=True)))
    return t
