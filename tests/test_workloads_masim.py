"""damon_gym.workloads.masim: the config grammar [WF 1.1] and the workload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from damon_gym.workloads import (
    MasimConfigError,
    format_masim_config,
    masim_workload,
    parse_masim_config,
    read_masim_config,
    tiering_test_config,
)

FIX = Path(__file__).parent / "fixtures" / "masim"
SHIPPED = ["100mb.cfg", "complicated_access_pattern", "default", "demo.cfg", "mem_perf.cfg",
           "stairs.cfg", "zigzag.cfg"]

# (regions, phases, total ms) from [WF 1.6]
EXPECTED = {"100mb.cfg": (1, 1, 5000), "complicated_access_pattern": (25, 5, 15000),
            "default": (3, 2, 2000), "demo.cfg": (2, 7, 40000), "mem_perf.cfg": (7, 15, 28100),
            "stairs.cfg": (10, 11, 60000), "zigzag.cfg": (2, 13, 70000)}


def cfg(name):
    return read_masim_config(FIX / name)


# --- shipped configs ------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_parse(name):
    c = cfg(name)
    nr_regions, nr_phases, total_ms = EXPECTED[name]
    assert (len(c.regions), len(c.phases), c.duration_ms) == (nr_regions, nr_phases, total_ms)
    assert c.name == name
    assert parse_masim_config(format_masim_config(c), name=name) == c
    w = masim_workload(c)
    assert w.duration_s == pytest.approx(total_ms / 1000)
    assert len(w.processes[0].vmas) == nr_regions + 2


def test_stairs():
    c = cfg("stairs.cfg")
    assert [(r.name, r.size, r.init_data) for r in c.regions] == \
        [(f"s{i}", 10_000_000, None) for i in range(10)]
    assert [p.duration_ms for p in c.phases] == [10000] + [5000] * 10
    assert c.phases[0].name == "initial phase" and len(c.phases[0].patterns) == 10
    for i, p in enumerate(c.phases[1:]):
        assert p.name == f"phase {i}"
        (a,) = p.patterns
        assert (a.region, a.random, a.stride, a.weight, a.rw_mode) == (f"s{i}", False, 4096, 50,
                                                                         None)


def test_zigzag_and_others():
    z = cfg("zigzag.cfg")
    assert [(r.name, r.size) for r in z.regions] == [("a", 100_000_000), ("b", 100_000_000)]
    assert [p.patterns[0].region for p in z.phases[1:]] == ["a", "b"] * 6
    assert [p.name for p in z.phases[1:3]] == ["low phase 0", "high phase 0"]
    m = cfg("mem_perf.cfg")
    assert m.regions[-1].size == 10_737_418_240
    assert "  1 GiB seq perf" in [p.name for p in m.phases]  # leading spaces kept
    assert m.phases[0].duration_ms == 100 and len(m.phases[0].patterns) == 6
    d = cfg("default")
    assert [r.init_data for r in d.regions] == ["none"] * 3
    assert [(a.region, a.rw_mode) for a in d.phases[1].patterns] == [("c", "ro"), ("b", "rw")]
    cp = cfg("complicated_access_pattern")
    assert [len(p.patterns) for p in cp.phases] == [8, 9, 8, 9, 12]


# --- grammar edge cases ---------------------------------------------------------------------
GOOD = "a, 100000\nb, 8192\n\nph\n1000\na, 1, 64, 80\nb, 0, 4096, 20\n"


def err(text, match):
    with pytest.raises(MasimConfigError, match=match) as e:
        parse_masim_config(text)
    assert isinstance(e.value, ValueError)
    return e.value


def test_good_minimal_and_comments():
    c = parse_masim_config("# top\na, 100000\n#x\nb, 8192\n\n# c\nph\n1000\na, 1, 64, 80\n"
                           "#\nb, 0, 4096, 20\n# end\n")
    assert c == parse_masim_config(GOOD)
    c2 = parse_masim_config(GOOD + "\n#between\nph2\n5\na, 1, 1, 0\n")
    assert len(c2.phases) == 2 and c2.phases[1].duration_ms == 5


def test_indented_hash_is_not_a_comment():
    e = err("a, 100\n # no comment\n\nph\n1\na, 1, 1, 1\n", "region line")
    assert e.line == 2
    e = err("a, 100\n\nph\n1\n  # no comment\na, 1, 1, 1\n", "access pattern line")
    assert e.line == 5


def test_two_blank_lines_or_blank_at_end_make_an_empty_phase():
    e = err(GOOD + "\n\nph2\n1\na, 1, 1, 1\n", "empty phase|non-empty phase")
    assert e.line == 9
    err(GOOD + "\n", "non-empty phase")
    err("a, 100\n\n", "non-empty phase")
    err("a, 100\n\n\nph\n1\na, 1, 1, 1\n", "non-empty phase")


def test_last_unterminated_line_is_dropped():
    c = parse_masim_config(GOOD.rstrip("\n"))
    assert [a.region for a in c.phases[0].patterns] == ["a"]
    e = err("a, 100\n\nph\n1\na, 1, 1, 1", "phase")  # the only pattern line is dropped
    assert e.field == "phase"


@pytest.mark.parametrize("text,field", [
    ("a\n\nph\n1\na, 1, 1, 1\n", "region line"),
    ("a, 1, none, x\n\nph\n1\na, 1, 1, 1\n", "region line"),
    ("a, 100M\n\nph\n1\na, 1, 1, 1\n", "region size"),
    ("a, 0\n\nph\n1\na, 1, 1, 1\n", "region size"),
    ("a, 100,  \n\nph\n1\na, 1, 1, 1\n", "initial data file"),
    ("a, 100\n\nph\n1\na, 1, 1\n", "access pattern line"),
    ("a, 100\n\nph\n1\na, 1, 1, 1, wo, x\n", "access pattern line"),
    ("a, 100\n\nph\n1\nb, 1, 1, 1\n", "pattern region"),
    ("a, 100\n\nph\n1\n a, 1, 1, 1\n", "pattern region"),  # exact lookup: leading space
    ("a, 100\n\nph\n1\na, 2, 1, 1\n", "randomness"),
    ("a, 100\n\nph\n1\na, 1, 1, -1\n", "probability"),
    ("a, 100\n\nph\n1\na, 1, 1, 1, xo\n", "rw mode"),
    ("a, 100\n\nph\n1s\na, 1, 1, 1\n", "duration"),
    ("a, 100\n\nph\n1\n", "phase"),
    ("a, 100\nph\n1\na, 1, 1, 1\n", "file"),
])
def test_bad_fields(text, field):
    e = err(text, field)
    assert e.field.startswith(field) and e.line is not None and str(e.line) in str(e)


def test_rw_mode_first_two_chars_and_idle_phase():
    c = parse_masim_config("a, 100, /dev/zero extra\n\nph\n1\na, 1, 1, 1,  rwx\n\n"
                           "idle\n1000\na, 1, 1, 0\n")
    assert c.regions[0].init_data == "/dev/zero" and c.phases[0].patterns[0].rw_mode == "rw"
    w = masim_workload(c)
    assert w.phases[1].segments == [] and w.rates_at(0.5, 0, 4096).sum() == 0
    assert list(w.populate_pages(0, 4096)) == list(range(w.process_pages(0, 4096)))


def test_tiering_test_config_and_round_trip():
    c = tiering_test_config("1 GiB", 10, 10, 5000, 8)
    assert [r.size for r in c.regions] == [107_374_182] * 10
    for p in c.phases:
        assert sorted(a.weight for a in p.patterns) == list(range(10))
        assert all(a.random and a.rw_mode == "wo" for a in p.patterns)
    assert c == tiering_test_config("1 GiB", 10, 10, 5000, 8)
    assert c != tiering_test_config("1 GiB", 10, 10, 5000, 9)
    text = format_masim_config(c)
    assert text.startswith("r0, 107374182, none\n") and "\n\np1\n5000\nr0, 1, 4096, " in text
    assert parse_masim_config(text, name=c.name) == c


# --- workload -------------------------------------------------------------------------------
def test_masim_workload_rates_stairs():
    w = masim_workload(cfg("stairs.cfg"), accesses_per_s=2e8)
    assert not w.processes[0].populate and w.write_fraction == 1.0
    b = list(w.vma_page_bases(0, 4096))
    assert list(w.populate_pages(0, 4096)) == list(range(b[1])) + \
        list(range(b[-1], w.process_pages(0, 4096)))  # heap and stack only
    r = w.rates_at(10.0 + 3 * 5 + 2.5, 0, 4096)  # phase 3: s3 alone
    s3 = slice(b[4], b[5])
    assert r.sum() == pytest.approx(2e8) and r[s3].sum() == pytest.approx(2e8)
    # 10,000,000 B with stride 4096: offsets 0..9,998,336 -> 2442 touches, one per page
    assert b[5] - b[4] == 2442 and np.allclose(r[s3], 2e8 / 2442)
    r0 = w.rates_at(1.0, 0, 4096)
    assert all(r0[b[i]:b[i + 1]].sum() == pytest.approx(2e7) for i in range(1, 11))


def test_masim_workload_random_and_strides():
    text = ("big, 10000000\nhop, 1048576\ntiny, 64\n\nph\n2000\nbig, 1, 64, 3\n"
            "hop, 0, 8192, 1\ntiny, 0, 4096, 4, ro\n\nzero\n0\nbig, 1, 1, 1\n")
    w = masim_workload(parse_masim_config(text))
    assert len(w.phases) == 1 and w.duration_s == 2.0  # zero-duration phase skipped
    b = list(w.vma_page_bases(0, 4096))
    r = w.rates_at(1.0, 0, 4096)
    big, hop, tiny = r[b[1]:b[2]], r[b[2]:b[3]], r[b[3]:b[4]]
    assert big.sum() == pytest.approx(0.375e8) and hop.sum() == pytest.approx(0.125e8)
    assert np.allclose(big[:-1], 0.375e8 * 4096 / 1e7)  # uniform by bytes
    assert big[-1] == pytest.approx(0.375e8 * (1e7 % 4096) / 1e7)  # partial last page
    assert np.count_nonzero(hop) == 128 and np.all(hop[1::2] == 0)  # every other page
    assert len(tiny) == 1 and tiny[0] == pytest.approx(0.5e8)  # stride >= size: byte 0
    assert w.write_fraction_at(1.0) == pytest.approx(0.5)  # wo 3 + wo 1 vs ro 4
    assert masim_workload(parse_masim_config(text), default_rw_mode="ro") \
        .write_fraction_at(1.0) == 0.0
    d = masim_workload(cfg("default"))
    assert [p.write_fraction for p in d.phases] == [1.0, 0.5]


def test_nonsense_configs_are_refused_naming_the_file(tmp_path):
    """Issue 13: a config that never accesses anything, or defines a region twice, is refused
    (it used to run with exit 0), and the message starts with the file."""
    never = tmp_path / "never.cfg"
    never.write_text("a, 1048576\n\nphase\n1000\na, 0, 0, 0, ro\n")
    twice = tmp_path / "twice.cfg"
    twice.write_text("a, 1048576\na, 2097152\n\nphase\n1000\na, 0, 4096, 1, ro\n")
    with pytest.raises(MasimConfigError, match=r"never.cfg: access probabilities"):
        read_masim_config(never)
    with pytest.raises(MasimConfigError, match=r"twice.cfg: region name: got 'a'"):
        read_masim_config(twice)
