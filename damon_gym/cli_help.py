"""The ``damon-gym`` parser's finishing touches: ``--version``, an example epilog for every
subcommand, and help for the options defined without any."""

from __future__ import annotations

import argparse

EXAMPLES = {
    "record": ["damon-gym record --scenario smoke-zigzag --seconds 10 --out out/zz.damon.data",
               "damon-gym record --scenario tests/fixtures/masim/zigzag.cfg --topology tiny "
               "--damon-params tests/fixtures/damo_params/mem_tier.json --seconds 30 "
               "--out out/tier.damon.data --stats-out out/tier.stats.json --plot"],
    "heatmap": ["damon-gym heatmap --input out/tier.damon.data --out out/tier.png",
                "damon-gym heatmap --input out/tier.damon.data --out out/tier-nodes.png "
                "--nodes out/tier.stats.json"],
    "run": ["damon-gym run --list",
            "damon-gym run --env DamonGym/Interleave-v0 --policies random,bandwidth-weights,instant-oracle"],
    "headroom": ["damon-gym headroom --task Interleave --scenario interleave-default --jobs 2"],
    "model": ["damon-gym model --topology P1-SPR --u-target 0.9 --write-fraction 0.3"],
    "scenarios": ["damon-gym scenarios list", "damon-gym scenarios show tiering-rand --seed 3"],
    "schemes": ["damon-gym schemes --scenario tests/fixtures/masim/zigzag.cfg "
                "--damon-params tests/fixtures/damo_params/mem_tier.json --seconds 30",
                "damon-gym schemes --scenario smoke-zigzag --damon-params "
                "tests/fixtures/damo_params/weighted_interleave.json --sweep dests=1:1,3:1,1:0 "
                "--plot out/sweep.png"],
    "export": ["damon-gym export --scenario smoke-zigzag --damon-params "
               "tests/fixtures/damo_params/mem_tier.json --seconds 10 --out out/tuned.json",
               "damo args damon out/tuned.json --format json   # the real damo reads it back"],
    "eval": ["damon-gym eval --task Interleave --suite smoke --agents all --seeds 1 "
             "--out out/eval-smoke",
             "damon-gym eval --task Joint --suite test --agents b4-colloid,b9-arms --seeds 3 "
             "--jobs 2 --out out/eval --resume"],
    "replay": ["damon-gym replay out/eval-smoke/results.jsonl --jobs 2"],
    "agents": ["damon-gym agents", "damon-gym agents --reads"],
}

#: help for options the parser defines without any
MISSING_HELP = {
    "seed": "episode seed (default: the scenario's)",
    "quiet": "print nothing but errors",
    "input": "a damo record file (json_compressed, json or pickle)",
    "out": "the file to write",
    "title": "the picture's title (default: the input's file name)",
    "topology": "a topology preset name (configs/topologies) or YAML path",
    "u_target": "the workload's intensity: utilisation of the all-fast machine in (0, 0.99]",
    "write_fraction": "fraction of memory traffic that is writes",
    "hot_fraction": "fraction of the accesses that go to the hot set",
}


def finish_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--version``, an example epilog per subcommand, and help for options lacking it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("damon-gym")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        v = "unknown"
    p.add_argument("--version", action="version", version=f"damon-gym {v}")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "examples:\n" + "\n".join(f"  {ex[0]}" for ex in EXAMPLES.values())
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    for sa in subs:
        for name, sp in sa.choices.items():
            if name in EXAMPLES and not sp.epilog:
                sp.epilog = "examples:\n" + "\n".join(f"  {ex}" for ex in EXAMPLES[name])
                sp.formatter_class = argparse.RawDescriptionHelpFormatter
            for a in sp._actions:
                if a.help is None and a.dest in MISSING_HELP:
                    a.help = MISSING_HELP[a.dest]
    return p
