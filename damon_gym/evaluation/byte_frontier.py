"""How much perf_norm the instant oracle's own migrations can buy per migrated byte (issue
12's bar: 3 % over the best heuristic with no more migrated bytes).

``scripts/budget_bound.py`` mixes whole evaluated plays per scenario; this module asks the
finer question of the oracle itself. ``play_oracle`` plays one episode and records every
step's perf_norm and migrated bytes and its phase (``env.phase_times()``). Within a phase, a
play may take the oracle's first ``c`` steps of moves and then hold: ``cut_curve`` credits it
with the oracle's perf_norm over those ``c`` steps and, for the rest of the phase, with the
perf_norm the oracle showed at step ``c``. Choosing one cut per phase with hindsight under a
byte budget gives the best geometric mean over the scenarios of the seed-mean perf_norm:
``frontier`` by water-filling along each phase's upper concave hull (the continuous
relaxation), ``whole_cuts`` exactly (a multiple-choice knapsack per scenario, the budget split
over the scenarios), and ``whole_cut_choice`` / ``replay`` play the exact choice for real.

The credit is optimistic on purpose: the held perf_norm includes step ``c``'s own move, and a
cut phase is credited as if the next phase started where the oracle's full play left it, with
the oracle's free choices (interleave weights) and none of the cost of having moved less. So
the estimate is from above for plays made of the oracle's moves; the replay pays for all of
that. Not a proof about every play: the oracle moves toward the true optimum hottest-first,
which is where a byte buys the most.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from damon_gym.envs.base import DamonEnv

GIB = 2**30
#: the exact choice counts bytes in this many units of its largest budget
UNITS = 4096


def geomean_of_means(per_scenario: dict[str, list[float]]) -> float:
    """The geometric mean over the scenarios of each one's mean (over its seeds) perf_norm:
    the suite's objective here, as in scripts/budget_bound.py."""
    return math.exp(sum(math.log(sum(v) / len(v)) for v in per_scenario.values())
                    / len(per_scenario))


# -- the oracle's plays --------------------------------------------------------------------
def _env(task: str, scenario: str) -> DamonEnv:
    import gymnasium as gym

    import damon_gym  # noqa: F401  (registers the ids)
    from damon_gym.envs.base import DamonEnv

    env = gym.make(f"DamonGym/{task}-v0", disable_env_checker=True, scenario=scenario).unwrapped
    if not isinstance(env, DamonEnv):
        raise TypeError(f"task: DamonGym/{task}-v0 is not a DamonEnv ({type(env).__name__})")
    return env


def play_oracle(task: str, scenario: str, seed: int, agent: str = "instant-oracle") -> dict:
    """One episode of ``agent``: per step perf_norm, migrated bytes and phase index."""
    from damon_gym.evaluation.jobs import agent_api

    _, make_agent = agent_api()
    env = _env(task, scenario)
    player = make_agent(agent, env)
    player.reset(seed)
    obs, info = env.reset(seed=seed, options={"scenario": scenario, "seed": seed})
    changes = env.phase_times()
    perf, moved, phase = [], [], []
    done = False
    while not done:
        t = float(info["time_s"])
        obs, _, term, trunc, info = env.step(player.act(obs, info))
        done = term or trunc
        perf.append(float(info["perf_norm"]))
        moved.append(int(info["migrated_bytes"]))
        phase.append(bisect.bisect_right(changes, t))  # the changes at or before t
    env.close()
    return {"scenario": scenario, "seed": seed, "perf": perf, "moved": moved, "phase": phase}


# -- cuts, hulls and the allocation ---------------------------------------------------------
def phase_spans(phase: list[int]) -> list[tuple[int, int]]:
    """[start, end) step spans of consecutive equal phase indices."""
    spans, start = [], 0
    for i in range(1, len(phase) + 1):
        if i == len(phase) or phase[i] != phase[start]:
            spans.append((start, i))
            start = i
    return spans


def cut_curve(perf: list[float], moved: list[int]) -> list[tuple[int, float]]:
    """(bytes, perf_norm summed over the phase) of each cut c = 0..L of one phase: the first
    c steps as played, then the perf_norm of step c (of the last step for c = L) held."""
    n = len(perf)
    out = []
    done_bytes, done_perf = 0, 0.0
    for c in range(n + 1):
        held = perf[min(c, n - 1)]
        out.append((done_bytes, done_perf + (n - c) * held))
        if c < n:
            done_bytes += moved[c]
            done_perf += perf[c]
    return out


def upper_hull(curve: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The upper concave hull of a phase's cuts, from zero bytes up (the best cut per byte
    count first): what a budget can buy along them (a point above the hull's chord is never
    skipped, one below never chosen)."""
    best: dict[int, float] = {}
    for b, v in curve:
        best[b] = max(v, best.get(b, -math.inf))
    hull: list[tuple[int, float]] = []
    for p in sorted(best.items()):
        if hull and p[1] <= hull[-1][1]:
            continue  # more bytes for no more perf
        while len(hull) >= 2:
            (b0, v0), (b1, v1) = hull[-2], hull[-1]
            # drop the middle point if it lies on or below the chord from hull[-2] to p
            if (v1 - v0) * (p[0] - b0) <= (p[1] - v0) * (b1 - b0):
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def frontier(episodes: list[dict], budget_gib_per_episode: float | None = None,
             chunks: int = 2000) -> list[dict]:
    """The most the suite's objective (the geomean over scenarios of the seed-mean perf_norm)
    can gain from the phases' cuts per migrated byte: water-filling along every phase's upper
    concave hull, a chunk of bytes at a time to the phase whose next byte gains the objective
    most, a hull's segment taken in part where the chunk or the budget ends inside it (the
    continuous relaxation of choosing one cut per phase, so an estimate from above of the
    best choice; within one chunk's gain of the relaxation's optimum). ``episodes``: dicts
    with ``scenario``, ``perf``, ``moved``, ``phase``. Returns the points: GiB per episode and
    geomean, from every phase held at its start to every hull's end or the budget (the last
    point is then the allocation's)."""
    by_sc: dict[str, list[int]] = defaultdict(list)
    hulls, owner, steps = [], [], []
    for e, ep in enumerate(episodes):
        by_sc[ep["scenario"]].append(e)
        steps.append(len(ep["perf"]))
        for a, b in phase_spans(ep["phase"]):
            hulls.append(upper_hull(cut_curve(ep["perf"][a:b], ep["moved"][a:b])))
            owner.append(e)
    ep_sum = [0.0] * len(episodes)
    for h, e in zip(hulls, owner, strict=True):
        ep_sum[e] += h[0][1]
    total = sum(h[-1][0] - h[0][0] for h in hulls)
    budget = total if budget_gib_per_episode is None else \
        min(total, budget_gib_per_episode * GIB * len(episodes))
    chunk = max(total / chunks, 1.0)
    nxt = [1] * len(hulls)
    into = [0.0] * len(hulls)  # bytes taken of hull k's current segment
    spent = 0.0

    def sc_mean(sc: str) -> float:
        ids = by_sc[sc]
        return sum(ep_sum[e] / steps[e] for e in ids) / len(ids)

    def geo() -> float:
        return geomean_of_means({s: [sc_mean(s)] for s in by_sc})

    points = [{"gib_per_episode": 0.0, "geomean": geo()}]
    while spent < budget - 1e-6:
        best, best_rate = -1, 0.0
        means = {s: sc_mean(s) for s in by_sc}
        for k, h in enumerate(hulls):
            if nxt[k] >= len(h):
                continue
            (b0, v0), (b1, v1) = h[nxt[k] - 1], h[nxt[k]]
            sc = episodes[owner[k]]["scenario"]
            # d(ln mean_sc)/d(bytes) along this segment
            rate = (v1 - v0) / (b1 - b0) / steps[owner[k]] / len(by_sc[sc]) / means[sc]
            if rate > best_rate:
                best, best_rate = k, rate
        if best < 0:
            break
        h = hulls[best]
        (b0, v0), (b1, v1) = h[nxt[best] - 1], h[nxt[best]]
        take = min(chunk, (b1 - b0) - into[best], budget - spent)
        into[best] += take
        spent += take
        ep_sum[owner[best]] += (v1 - v0) * take / (b1 - b0)
        if into[best] >= (b1 - b0) - 1e-6:
            nxt[best] += 1
            into[best] = 0.0
        points.append({"gib_per_episode": spent / GIB / len(episodes), "geomean": geo()})
    return points


def _knapsacks(episodes: list[dict], unit: float, top: int):
    """Per scenario, the best seed-mean perf_norm of one whole cut per phase for every budget
    of 0..``top`` units (each cut's bytes rounded down to units), and per phase the cut
    chosen at every budget: (best values, [(episode, span, cuts, choice)]), per scenario."""
    import numpy as np

    by_sc: dict[str, list[int]] = defaultdict(list)
    for e, ep in enumerate(episodes):
        by_sc[ep["scenario"]].append(e)
    best_of, groups = [], []
    for ids in by_sc.values():
        f = np.zeros(top + 1)
        mine = []
        for e in ids:
            ep = episodes[e]
            scale = 1.0 / len(ep["perf"]) / len(ids)
            for a, b in phase_spans(ep["phase"]):
                cuts = cut_curve(ep["perf"][a:b], ep["moved"][a:b])
                g = np.full(top + 1, -np.inf)
                arg = np.zeros(top + 1, np.int64)
                for c, (cost, value) in enumerate(cuts):
                    w = int(cost // unit)
                    if w <= top:
                        cand = np.full(top + 1, -np.inf)
                        cand[w:] = f[:top + 1 - w] + value * scale
                        better = cand > g
                        g[better], arg[better] = cand[better], c
                f = g
                mine.append((e, (a, b), cuts, arg))
        best_of.append(f)
        groups.append(mine)
    return best_of, groups


def _split(best_of, top: int):
    """The scenarios' budgets: for every total budget the best sum of ln(best value) over
    the scenarios, and the split that gives it."""
    import numpy as np

    acc = [np.maximum.accumulate(f) for f in best_of]
    total = np.log(acc[0]) / len(acc)
    splits = []
    for f in acc[1:]:
        lf = np.log(f) / len(acc)
        best = np.empty(top + 1)
        arg = np.zeros(top + 1, np.int64)
        for b in range(top + 1):
            v = total[:b + 1][::-1] + lf[:b + 1]
            arg[b] = int(np.argmax(v))
            best[b] = v[arg[b]]
        total = best
        splits.append(arg)
    return total, splits


def whole_cuts(episodes: list[dict], max_gib_per_episode: float,
               units: int = UNITS) -> list[dict]:
    """The best choice of one whole cut per phase for every budget up to the maximum, exactly
    (no part of a hull segment, points below a hull's chord included): per scenario a
    multiple-choice knapsack over its phases (the perf sums add within a scenario), then the
    scenarios' budgets split for the best sum of ln(seed-mean perf_norm). Bytes are counted
    in units of 1/``units`` of the largest budget, each cut's rounded down (generous by less
    than a unit per phase). Returns the points (GiB per episode, geomean) of the budgets that
    improve on the one below."""
    import numpy as np

    unit = max(max_gib_per_episode * GIB * len(episodes) / units, 1.0)
    best_of, _ = _knapsacks(episodes, unit, units)
    total, _ = _split(best_of, units)
    points, last = [], -np.inf
    for b in range(units + 1):
        if total[b] > last + 1e-15:
            last = total[b]
            points.append({"gib_per_episode": b * unit / GIB / len(episodes),
                           "geomean": float(np.exp(total[b]))})
    return points


def whole_cut_choice(episodes: list[dict], budget_gib_per_episode: float,
                     units: int = UNITS) -> list[set[int]]:
    """The steps of each episode whose moves ``whole_cuts``'s best choice within the budget
    takes (the first ``c`` steps of each phase for its chosen cut ``c``)."""
    import numpy as np

    unit = max(budget_gib_per_episode * GIB * len(episodes) / units, 1.0)
    best_of, groups = _knapsacks(episodes, unit, units)
    _, splits = _split(best_of, units)
    budgets, b = [0] * len(best_of), units
    for k in range(len(best_of) - 1, 0, -1):
        budgets[k] = int(splits[k - 1][b])
        b -= budgets[k]
    budgets[0] = b
    steps: list[set[int]] = [set() for _ in episodes]
    for k, mine in enumerate(groups):
        b = int(np.argmax(best_of[k][:budgets[k] + 1]))  # the budget the best value needs
        for e, (a, _), cuts, arg in reversed(mine):
            c = int(arg[b])
            steps[e].update(range(a, a + c))
            b -= int(cuts[c][0] // unit)
    return steps


def replay(task: str, scenario: str, seed: int, follow: set[int]) -> dict:
    """One episode of the instant oracle whose moves are taken only at the steps in
    ``follow`` (its hold action at the others): what a choice of cuts gives when played, the
    earlier phases' placement and all."""
    from damon_gym.agents.references import InstantOracleAgent

    env = _env(task, scenario)
    oracle = InstantOracleAgent(env)
    oracle.reset(seed)
    obs, info = env.reset(seed=seed, options={"scenario": scenario, "seed": seed})
    perf: list[float] = []
    moved: list[int] = []
    done = False
    while not done:
        action = oracle.decide(info, allow_moves=len(perf) in follow)
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
        perf.append(float(info["perf_norm"]))
        moved.append(int(info["migrated_bytes"]))
    env.close()
    return {"scenario": scenario, "seed": seed, "perf": perf, "moved": moved}


def as_played(episodes: list[dict]) -> dict:
    """The plays themselves, uncut: geomean over scenarios of the seed-mean perf_norm and mean
    GiB per episode."""
    sc: dict[str, list[float]] = defaultdict(list)
    for ep in episodes:
        sc[ep["scenario"]].append(sum(ep["perf"]) / len(ep["perf"]))
    return {"geomean": geomean_of_means(sc),
            "gib_per_episode": sum(sum(ep["moved"]) for ep in episodes) / GIB / len(episodes)}


# -- evaluated plays -----------------------------------------------------------------------
def evaluated(rows: list[dict], episodes: set[tuple[str, int]]) -> dict[str, dict]:
    """Each agent of an eval results file on exactly ``episodes``: its geomean over scenarios
    of the seed-mean perf_norm and its mean GiB per episode (budget_bound's measure)."""
    per: dict[str, dict[tuple[str, int], dict]] = defaultdict(dict)
    for r in rows:
        key = (r["scenario_name"], r["seed"])
        if key in episodes:
            per[r["agent"]].setdefault(key, r)
    out = {}
    for agent, got in per.items():
        if set(got) != episodes:
            continue
        sc: dict[str, list[float]] = defaultdict(list)
        for (s, _), r in got.items():
            sc[s].append(r["perf_norm_mean"])
        out[agent] = {"geomean": geomean_of_means(sc),
                      "gib_per_episode": sum(r["migrated_gib"] for r in got.values()) / len(got)}
    return out
