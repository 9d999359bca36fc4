"""damon_gym/evaluation/byte_frontier.py and scripts/byte_frontier.py: the oracle's moves cut
per phase under a byte budget (issue 12's analysis of its bar)."""

import importlib.util
import itertools
import math
import random
from pathlib import Path

import pytest

from damon_gym.evaluation import byte_frontier

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "byte_frontier.py"
GIB = 2**30


@pytest.fixture(scope="module")
def bf():
    return byte_frontier


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("byte_frontier_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_phase_spans_split_at_every_change(bf):
    assert bf.phase_spans([0, 0, 1, 1, 1, 2]) == [(0, 2), (2, 5), (5, 6)]
    assert bf.phase_spans([3]) == [(0, 1)]


def test_a_cut_plays_c_steps_then_holds_step_c(bf):
    perf, moved = [0.2, 0.5, 0.9, 0.9], [4, 6, 0, 0]
    assert bf.cut_curve(perf, moved) == [
        (0, 4 * 0.2),                    # hold from the start: step 0's perf throughout
        (4, 0.2 + 3 * 0.5),              # step 0's move, then step 1's perf held
        (10, 0.2 + 0.5 + 2 * 0.9),
        (10, 0.2 + 0.5 + 0.9 + 0.9),
        (10, 0.2 + 0.5 + 0.9 + 0.9),     # the whole phase as played
    ]


def test_the_hull_is_concave_and_drops_dominated_points(bf):
    curve = [(0, 1.0), (2, 1.2), (4, 3.0), (5, 2.0), (6, 3.1), (8, 3.1)]
    hull = bf.upper_hull(curve)
    # (2, 1.2) lies below the chord (0, 1) -> (4, 3); (5, 2) and (8, 3.1) buy nothing
    assert hull == [(0, 1.0), (4, 3.0), (6, 3.1)]
    slopes = [(v1 - v0) / (b1 - b0) for (b0, v0), (b1, v1) in itertools.pairwise(hull)]
    assert slopes == sorted(slopes, reverse=True)


def _ep(sc, perf, moved, phase):
    return {"scenario": sc, "perf": perf, "moved": [m * GIB for m in moved], "phase": phase}


def _random_episodes(rng):
    """Three episodes (scenarios a, b, a) of two 2-step phases, perf_norm in [0.2, 1) and
    0-3 GiB moved per step."""
    eps = []
    for i in range(3):
        perf = [rng.uniform(0.2, 1.0) for _ in range(4)]
        moved = [rng.choice([0, 1, 2, 3]) for _ in range(4)]
        eps.append(_ep("ab"[i % 2], perf, moved, [0, 0, 1, 1]))
    return eps


def _brute(bf, episodes, budget_gib):
    """Every combination of one cut per phase: the best geomean within the budget."""
    choices = []
    for i, ep in enumerate(episodes):
        for a, b in bf.phase_spans(ep["phase"]):
            choices.append([(i, c, v) for c, v in bf.cut_curve(ep["perf"][a:b],
                                                                  ep["moved"][a:b])])
    best = -1.0
    for combo in itertools.product(*choices):
        if sum(c[1] for c in combo) > budget_gib * GIB * len(episodes) + 1e-6:
            continue
        tot = [0.0] * len(episodes)
        for i, _, v in combo:
            tot[i] += v
        sc: dict[str, list[float]] = {}
        for i, ep in enumerate(episodes):
            sc.setdefault(ep["scenario"], []).append(tot[i] / len(ep["perf"]))
        best = max(best, math.exp(sum(math.log(sum(v) / len(v)) for v in sc.values())
                                  / len(sc)))
    return best


def test_the_allocation_bounds_every_choice_of_cuts_from_above(bf):
    # two phases of two steps per episode: the water-filling is the continuous relaxation of
    # choosing one cut per phase, so it is never below the best choice (brute force) and
    # equals it where the budget holds nothing or everything
    eps = [_ep("a", [0.4, 0.9, 0.5, 0.8], [2, 0, 3, 0], [0, 0, 1, 1]),
           _ep("b", [0.6, 0.7, 0.3, 0.95], [1, 0, 4, 0], [0, 0, 1, 1])]
    for budget in (0.0, 0.5, 1.5, 2.5, 3.0, 5.0):
        got = bf.frontier(eps, budget)[-1]
        assert got["gib_per_episode"] <= budget + 1e-9
        assert got["geomean"] >= _brute(bf, eps, budget) - 1e-12
    assert bf.frontier(eps, 0.0)[-1]["geomean"] == pytest.approx(_brute(bf, eps, 0.0))
    assert bf.frontier(eps, 5.0)[-1]["geomean"] == pytest.approx(_brute(bf, eps, 5.0))
    # 1 GiB (0.5 per episode): whole cuts can only buy b's first phase (+0.1 of perf over its
    # two steps); the relaxation spends it on half of a's first phase (+0.25), the best rate
    half_a = ((0.8 + 0.25 + 1.0) / 4) * ((1.2 + 0.6) / 4)
    assert bf.frontier(eps, 0.5)[-1]["geomean"] == pytest.approx(math.sqrt(half_a))


def test_the_relaxation_is_close_to_the_best_choice_on_random_phases(bf):
    rng = random.Random(7)
    worst = 0.0
    for _ in range(40):
        eps = _random_episodes(rng)
        budget = rng.uniform(0.0, 3.0)
        got = bf.frontier(eps, budget)[-1]["geomean"]
        best = _brute(bf, eps, budget)
        assert got >= best - 1e-9
        worst = max(worst, got / best - 1)
    # the relaxation takes parts of segments: on 4-step phases of whole GiBs that is worth
    # a few percent at most, not a different answer
    assert worst < 0.15


def test_whole_cuts_are_the_best_choice_for_every_budget(bf):
    rng = random.Random(11)
    for _ in range(15):
        eps = _random_episodes(rng)
        # 6 GiB per episode in 18 units: every cut's bytes a whole number of units
        pts = bf.whole_cuts(eps, 6.0, units=18)
        for budget in (0.0, 1.0, 7 / 3, 4.0, 6.0):
            got = max(p["geomean"] for p in pts if p["gib_per_episode"] <= budget + 1e-9)
            assert got == pytest.approx(_brute(bf, eps, budget), rel=1e-12)
            assert got <= bf.frontier(eps, budget)[-1]["geomean"] + 1e-12


def test_the_chosen_cuts_are_the_best_choice_and_keep_to_the_budget(bf):
    rng = random.Random(5)
    for _ in range(15):
        eps = _random_episodes(rng)
        budget = rng.choice([1.0, 7 / 3, 4.0])
        follow = bf.whole_cut_choice(eps, budget, units=int(round(budget * 3)))
        spent, sc = 0, {}
        for ep, steps in zip(eps, follow, strict=True):
            total = 0.0
            for a, b in bf.phase_spans(ep["phase"]):
                c = len([s for s in steps if a <= s < b])
                assert steps >= set(range(a, a + c))  # a prefix of the phase
                cost, value = bf.cut_curve(ep["perf"][a:b], ep["moved"][a:b])[c]
                spent += cost
                total += value
            sc.setdefault(ep["scenario"], []).append(total / len(ep["perf"]))
        assert spent <= budget * GIB * len(eps) + 1e-6
        geo = math.exp(sum(math.log(sum(v) / len(v)) for v in sc.values()) / len(sc))
        assert geo == pytest.approx(_brute(bf, eps, budget), rel=1e-12)


def test_the_unbudgeted_frontier_rises_from_holding_to_the_best_cuts(bf):
    eps = [_ep("a", [0.4, 0.9, 0.5, 0.8], [2, 0, 3, 0], [0, 0, 1, 1]),
           _ep("a", [0.6, 0.7, 0.3, 0.95], [1, 0, 4, 0], [0, 0, 1, 1])]
    pts = bf.frontier(eps)
    gib = [p["gib_per_episode"] for p in pts]
    geo = [p["geomean"] for p in pts]
    assert gib == sorted(gib) and geo == sorted(geo)
    hold = (0.4 * 2 + 0.5 * 2) / 4 / 2 + (0.6 * 2 + 0.3 * 2) / 4 / 2
    assert geo[0] == pytest.approx(hold)
    assert gib[-1] == pytest.approx((2 + 3 + 1 + 4) / 2)
    assert bf.as_played(eps) == pytest.approx(
        {"geomean": (0.65 + 0.6375) / 2, "gib_per_episode": 5.0})


def test_evaluated_plays_need_every_episode(bf):
    rows = [{"agent": "x", "scenario_name": "a", "seed": s, "perf_norm_mean": p,
             "migrated_gib": g} for s, p, g in [(0, 0.8, 1.0), (1, 0.6, 3.0)]]
    rows += [{"agent": "y", "scenario_name": "a", "seed": 0, "perf_norm_mean": 0.9,
              "migrated_gib": 0.0}]
    got = bf.evaluated(rows, {("a", 0), ("a", 1)})
    assert set(got) == {"x"}
    assert got["x"] == pytest.approx({"geomean": 0.7, "gib_per_episode": 2.0})


def test_the_cli_refuses_a_reference_that_did_not_play_every_episode(tmp_path):
    import json
    import subprocess
    import sys

    res = tmp_path / "results.jsonl"
    res.write_text(json.dumps({"agent": "b8-three-regime", "scenario_name": "interleave-p3-rand",
                               "seed": 1000, "perf_norm_mean": 0.9, "migrated_gib": 1.0}) + "\n")
    out = subprocess.run([sys.executable, str(SCRIPT), "--task", "Interleave", "--results",
                          str(res), "--reference", "b8-three-regime"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "--reference: 'b8-three-regime' has no row for every episode" in out.stderr
    assert "Traceback" not in out.stderr
    for bad, said in ((["--results", str(tmp_path / "none.jsonl")], "none.jsonl"),
                      (["--seeds", "0"], "seeds: 0 is not allowed")):
        args = ["--task", "Interleave", "--results", str(res), "--reference", "x", *bad]
        out = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode != 0 and said in out.stderr and "Traceback" not in out.stderr


def test_the_plot_is_a_png_with_model_folders_as_labels(script, tmp_path):
    pts = [{"gib_per_episode": 0.0, "geomean": 0.7}, {"gib_per_episode": 9.0, "geomean": 0.9}]
    plays = {"b4-colloid": {"geomean": 0.72, "gib_per_episode": 4.0},
             "ppo:models/tiering/ppo.zip": {"geomean": 0.8, "gib_per_episode": 8.0}}
    out = tmp_path / "f.png"
    script._plot(out, "Tiering", pts, pts, plays, "b4-colloid", 0.75, 0.8,
                 {"geomean": 0.76, "gib_per_episode": 3.9})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_replaying_every_step_is_the_oracles_play_and_no_step_moves_little(bf):
    # the replay's oracle moving at every step is the instant oracle's own episode, bit for
    # bit; moving at none is its hold action throughout (the fast node's demotion and
    # promotion at quota_min: a few MiB per step at most)
    played = bf.play_oracle("Tiering", "tiering-meta-rand", 1000)
    every = bf.replay("Tiering", "tiering-meta-rand", 1000, set(range(len(played["perf"]))))
    assert every["perf"] == played["perf"] and every["moved"] == played["moved"]
    none = bf.replay("Tiering", "tiering-meta-rand", 1000, set())
    assert sum(none["moved"]) < 0.05 * sum(played["moved"])
    assert len(set(played["phase"])) >= 3  # the episode has phases to cut
