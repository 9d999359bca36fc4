"""Fuzzing every parser with the real files as seeds (issue 13): mutated masim configs, damo
parameter files, damo records, scenario and topology YAML either parse or raise the
documented error (a ``DamonGymError``, a ``ValueError``); nothing hangs (each call runs under
an alarm) and nothing else escapes.

The mutations are byte-level (flips, deletions, insertions, truncation, duplication of a
slice), drawn by hypothesis from the seed file; the example counts keep the file under ~30 s.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damon_gym.errors import DamonGymError
from damon_gym.workloads.masim import masim_workload, parse_masim_config

FIX = Path(__file__).parent / "fixtures"
CONFIGS = Path(__file__).parents[1] / "configs"
SEEDS = {
    "masim": sorted((FIX / "masim").glob("*.cfg")) + [FIX / "masim" / "default"],
    "params": sorted((FIX / "damo_params").glob("*.json")),
    "record": sorted((FIX / "damo_records").glob("*.damon.data")),
    "scenario": [CONFIGS / "scenarios" / n for n in ("tiering-default.yaml", "taobench-tiny.yaml",
                                                      "gups-p2-rand.yaml")],
    "topology": [CONFIGS / "topologies" / "P3.yaml"],
}
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


@st.composite
def mutated(draw, data: bytes):
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not b:
            break
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup"]))
        i = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del b[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del b[i:]
        else:
            j = min(len(b), i + draw(st.integers(1, 64)))
            b[i:i] = b[i:j]
    return bytes(b)


def _parse(kind: str, path: Path) -> None:
    if kind == "masim":
        cfg = parse_masim_config(path.read_bytes().decode("utf-8", "replace"), name="fuzz")
        masim_workload(cfg)
    elif kind == "params":
        from damon_gym.formats.params import load_damon_params

        load_damon_params(path)
    elif kind == "record":
        from damon_gym.formats.record import read_record

        read_record(path)
    elif kind == "scenario":
        from damon_gym.scenario import load_scenario

        load_scenario(path).resolved(3)
    else:
        from damon_gym.memory.topology import load_topology

        load_topology(path)


def _cases():
    return [(kind, p) for kind, paths in SEEDS.items() for p in paths]


@pytest.mark.parametrize("kind, seed", _cases(), ids=lambda x: getattr(x, "name", x))
def test_mutated_inputs_parse_or_raise_the_documented_error(kind, seed, tmp_path):
    data = seed.read_bytes()
    suffix = "".join(seed.suffixes) or ".cfg"

    @settings(max_examples=25, **SETTINGS)
    @given(blob=mutated(data))
    def check(blob):
        p = tmp_path / f"fuzz{suffix}"
        p.write_bytes(blob)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(10)
        try:
            _parse(kind, p)
        except DamonGymError:
            pass  # the documented errors, each with a message naming the file or field
        except Hang:
            pytest.fail(f"{kind}: a mutated {seed.name} hung for 10 s")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    check()
