"""masim configuration files: reader, writer and conversion to a :class:`Workload`.

The grammar follows masim's parser as documented in [WF 1.1] (sjp38/masim,
master @13e0241be549; no masim code is used here): the text up to its last newline is used
(an unterminated last line is dropped); lines starting with ``#`` in column 0 are removed with
their newline; the first blank line separates the regions paragraph from the phases; every
phase paragraph (name line verbatim, duration in ms, one or more pattern lines) ends at a blank
line or at the end of the file, so two blank lines in a row or a blank line at the end make an
empty phase, which is an error. Region lines have 2 or 3 comma fields (name verbatim, size in
bytes, initial data file); pattern lines 4 or 5 (region name matched exactly, 1 random / 0
sequential, stride bytes, integer weight, rw mode ro/wo/rw, default: the run's default,
write-only). masim's missing NUL termination [WF 1.3] is not reproduced. Numbers
are read strictly (masim's atoi would take "80abc" as 80; that is an error here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from damon_gym.errors import DamonGymError, read_text
from damon_gym.units import parse_size
from damon_gym.workloads.layout import process_vmas
from damon_gym.workloads.model import Phase, ProcessSpec, RateSegment, VMASpec, Workload

# masim's total access throughput is an unknown that needs calibration ([WF 1.2]:
# masim prints accesses/ms but no published numbers exist). 1e8 accesses/s (~10 ns per
# single-threaded access burst step) is the assumed default; it only scales the rates.
MASIM_ACCESSES_PER_S = 1e8
_RW_WRITE_FRACTION = {"wo": 1.0, "rw": 1.0, "ro": 0.0}
_INT32_MAX = 2**31 - 1
_NAME_MAX = 255

__all__ = ["MASIM_ACCESSES_PER_S", "MasimConfigError", "MasimRegion", "MasimPattern",
           "MasimPhase", "MasimConfig", "parse_masim_config", "read_masim_config",
           "format_masim_config", "masim_workload", "tiering_test_config"]


class MasimConfigError(DamonGymError):
    """A config masim would reject (or that we read strictly): names the line, the field and
    what is allowed."""

    def __init__(self, line: int | None, field: str, value: object, allowed: str) -> None:
        self.line, self.field, self.value, self.allowed = line, field, value, allowed
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{field}: got {value!r}; allowed: {allowed}")


@dataclass
class MasimRegion:
    name: str
    size: int
    init_data: str | None = None  # None: field absent; "none": present, no file


@dataclass
class MasimPattern:
    region: str
    random: bool
    stride: int
    weight: int
    rw_mode: str | None = None  # None: field absent (the run's default, write-only)


@dataclass
class MasimPhase:
    name: str
    duration_ms: int
    patterns: list[MasimPattern] = field(default_factory=list)


@dataclass
class MasimConfig:
    regions: list[MasimRegion]
    phases: list[MasimPhase]
    name: str = "masim"

    def __post_init__(self) -> None:
        _validate(self)

    def region(self, name: str) -> MasimRegion:
        """The first region with exactly this name (masim's lookup)."""
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def duration_ms(self) -> int:
        return sum(p.duration_ms for p in self.phases)


def _validate(c: MasimConfig) -> None:
    if not c.regions:
        raise MasimConfigError(None, "regions", c.regions, "at least one region")
    if not c.phases:
        raise MasimConfigError(None, "phases", c.phases, "at least one phase")
    names = {r.name for r in c.regions}
    if len(names) != len(c.regions):
        dup = next(r.name for i, r in enumerate(c.regions)
                   if r.name in {q.name for q in c.regions[:i]})
        raise MasimConfigError(None, "region name", dup, "each region defined once (a pattern "
                               "names its region, so two regions of one name are ambiguous)")
    for r in c.regions:
        if not r.name or len(r.name) > _NAME_MAX or r.name.startswith("#") \
                or any(ch in r.name for ch in ",\n"):
            raise MasimConfigError(None, "region name", r.name,
                                   "1-255 chars, no ',' or newline, not starting with '#'")
        if r.size <= 0:
            raise MasimConfigError(None, f"region {r.name!r} size", r.size, "bytes > 0")
        if r.init_data is not None and (not r.init_data or len(r.init_data.split()) != 1
                                        or r.init_data != r.init_data.strip() or "," in r.init_data):
            raise MasimConfigError(None, f"region {r.name!r} init_data", r.init_data,
                                   "None or one token without whitespace or ','")
    for p in c.phases:
        if not p.name or p.name.startswith("#") or "\n" in p.name:
            raise MasimConfigError(None, "phase name", p.name,
                                   "a non-empty line not starting with '#'")
        if p.duration_ms < 0:
            raise MasimConfigError(None, f"phase {p.name!r} duration", p.duration_ms, "ms >= 0")
        if not p.patterns:
            raise MasimConfigError(None, f"phase {p.name!r} patterns", [], "at least one")
    if all(a.weight == 0 for p in c.phases for a in p.patterns):
        raise MasimConfigError(None, "access probabilities", 0, "at least one pattern of one "
                               "phase with a probability > 0 (otherwise nothing is ever "
                               "accessed)")
    for p in c.phases:
        for a in p.patterns:
            if a.region not in names:
                raise MasimConfigError(None, "pattern region", a.region,
                                       f"one of the region names {sorted(names)}")
            if a.rw_mode not in (None, "ro", "wo", "rw"):
                raise MasimConfigError(None, "rw mode", a.rw_mode, "ro, wo, rw or None")
            if not (0 <= a.stride <= _INT32_MAX and 0 <= a.weight <= _INT32_MAX):
                raise MasimConfigError(None, "stride/probability", (a.stride, a.weight),
                                       f"integers in [0, {_INT32_MAX}]")


def _int(text: str, line: int, fld: str, lo: int, hi: int) -> int:
    s = text.strip()
    if not re.fullmatch(r"[+-]?\d+", s) or not lo <= int(s) <= hi:
        raise MasimConfigError(line, fld, text, f"an integer in [{lo}, {hi}], no unit suffix")
    return int(s)


def _region(text: str, line: int) -> MasimRegion:
    f = text.split(",")
    if len(f) not in (2, 3):
        raise MasimConfigError(line, "region line", text,
                               "2 or 3 comma-separated fields: name, size[, data file]")
    if not f[0] or len(f[0]) > _NAME_MAX:
        raise MasimConfigError(line, "region name", f[0], "1 to 255 characters")
    size = _int(f[1], line, "region size", 1, 2**63 - 1)
    init = None
    if len(f) == 3:
        tok = f[2].split()
        if not tok:
            raise MasimConfigError(line, "initial data file", f[2], "a file path or 'none'")
        init = tok[0]
    return MasimRegion(f[0], size, init)


def _pattern(text: str, line: int, names: set[str]) -> MasimPattern:
    f = text.split(",")
    if len(f) not in (4, 5):
        raise MasimConfigError(line, "access pattern line", text, "4 or 5 comma-separated "
                               "fields: region, randomness, stride, probability[, rw mode]")
    if f[0] not in names:
        raise MasimConfigError(line, "pattern region", f[0],
                               f"exactly one of the region names {sorted(names)}")
    rnd = _int(f[1], line, "randomness", 0, 1)
    stride = _int(f[2], line, "stride", 0, _INT32_MAX)
    weight = _int(f[3], line, "probability", 0, _INT32_MAX)
    mode = None
    if len(f) == 5:
        tok = f[4].split()
        mode = tok[0][:2] if tok else ""
        if mode not in _RW_WRITE_FRACTION:
            raise MasimConfigError(line, "rw mode", f[4], "ro, wo or rw")
    return MasimPattern(f[0], bool(rnd), stride, weight, mode)


def parse_masim_config(text: str, *, name: str = "masim") -> MasimConfig:
    """Parse a masim config (see the module docstring for the grammar)."""
    raw = text[:text.rfind("\n") + 1].split("\n")[:-1]  # drops an unterminated last line
    lines = [(i + 1, s) for i, s in enumerate(raw) if not s.startswith("#")]
    sep = next((k for k in range(1, len(lines)) if lines[k][1] == ""), None)
    if sep is None:
        last = lines[-1][0] if lines else 1
        raise MasimConfigError(last, "file", "no blank line",
                               "a regions paragraph, one blank line, then phase paragraphs")
    regions = [_region(s, ln) for ln, s in lines[:sep]]
    names = {r.name for r in regions}
    phases: list[MasimPhase] = []
    cur: list[tuple[int, str]] = []

    def close(at_line: int) -> None:
        if not cur:
            raise MasimConfigError(at_line, "phase", "",
                                   "a non-empty phase (exactly one blank line between phases, "
                                   "none at the end of the file)")
        if len(cur) < 3:
            raise MasimConfigError(cur[-1][0], "phase", [s for _, s in cur],
                                   "a name line, a duration line and >= 1 pattern line")
        dur = _int(cur[1][1], cur[1][0], "duration (ms)", 0, _INT32_MAX)
        pats = [_pattern(s, ln, names) for ln, s in cur[2:]]
        phases.append(MasimPhase(cur[0][1], dur, pats))
        cur.clear()

    for ln, s in lines[sep + 1:]:
        if s == "":
            close(ln)
        else:
            cur.append((ln, s))
    close(lines[-1][0])
    return MasimConfig(regions, phases, name)


def read_masim_config(path: str | Path, *, name: str | None = None) -> MasimConfig:
    p = Path(path)
    text = read_text(p, "masim config")
    try:
        return parse_masim_config(text, name=name or p.name)
    except MasimConfigError as e:
        err = MasimConfigError(e.line, e.field, e.value, e.allowed)
        err.args = (f"{p}: {e}",)  # the file first, then the line, field and what is allowed
        raise err from None


def format_masim_config(config: MasimConfig) -> str:
    """The canonical text (masim_config.py's layout, with a final newline):
    ``parse_masim_config(format_masim_config(c), name=c.name) == c``."""
    _validate(config)
    out = []
    for r in config.regions:
        out.append(f"{r.name}, {r.size}" + (f", {r.init_data}" if r.init_data is not None
                                            else ""))
    for p in config.phases:
        out += ["", p.name, str(p.duration_ms)]
        for a in p.patterns:
            out.append(f"{a.region}, {int(a.random)}, {a.stride}, {a.weight}"
                       + (f", {a.rw_mode}" if a.rw_mode is not None else ""))
    return "\n".join(out) + "\n"


def tiering_test_config(memsize: int | str, nr_regions: int, nr_phases: int,
                        phase_runtime_ms: int, rng: np.random.Generator | int) -> MasimConfig:
    """What masim's tiering_test_config.py builds [WF 1.4], seeded: regions r0..
    of memsize // nr_regions bytes; phases p0.. where every region is accessed randomly,
    write-only, with weights a fresh permutation of 0..nr_regions-1."""
    r = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    size = parse_size(memsize, "memsize") // max(nr_regions, 1)
    if nr_regions < 1 or nr_phases < 1 or size < 1 or phase_runtime_ms < 0:
        raise ValueError(f"tiering_test_config: nr_regions={nr_regions!r}, nr_phases="
                         f"{nr_phases!r} >= 1, memsize // nr_regions >= 1 and "
                         f"phase_runtime_ms={phase_runtime_ms!r} >= 0 required")
    regions = [MasimRegion(f"r{i}", size, "none") for i in range(nr_regions)]
    phases = [MasimPhase(f"p{p}", int(phase_runtime_ms),
                         [MasimPattern(f"r{i}", True, 4096, int(w), "wo")
                          for i, w in enumerate(r.permutation(nr_regions))])
              for p in range(nr_phases)]
    return MasimConfig(regions, phases, "tiering_test_config")


def masim_workload(config: MasimConfig, *, accesses_per_s: float = MASIM_ACCESSES_PER_S,
                   default_rw_mode: str = "wo", pid: int = 1000, u_target: float = 0.5,
                   start_s: float = 0.0) -> Workload:
    """One process running ``config``: each region its own VMA in the mmap area in file order
    (ascending), plus heap and stack. Memory is populated at first touch, except regions with
    an initial data file other than ``none`` (and heap/stack). In each phase pattern i gets
    ``accesses_per_s * weight_i / sum(weights)`` accesses/s: random patterns uniformly over the
    region's bytes, sequential ones over the bytes the cursor touches (multiples of the
    stride, i.e. every page for strides <= the page size, every (stride // page)-th page for
    larger ones, byte 0 only if stride >= size or 0). Zero-duration phases are skipped;
    all-zero weights give an idle phase. Write fraction: wo and rw 1.0, ro 0.0, by share.

    Not modelled: masim's random-offset pool (~10^6 distinct offsets, so regions above ~4 GiB
    are not fully touched), --hint, --use_hugetlb, --repeat.
    """
    if default_rw_mode not in _RW_WRITE_FRACTION:
        raise ValueError(f"default_rw_mode: got {default_rw_mode!r}; allowed: ro, wo, rw")
    if not accesses_per_s > 0:
        raise ValueError(f"accesses_per_s: got {accesses_per_s!r}; allowed: a number > 0")
    vmas = process_vmas([r.size for r in config.regions], [r.name for r in config.regions],
                        aux_populate=True)
    for v, r in zip(vmas[1:-1], config.regions, strict=True):
        v.populate = r.init_data not in (None, "none")
    proc = ProcessSpec(pid, config.name, vmas, start_s, None, populate=False)
    first: dict[str, VMASpec] = {}
    for v in vmas[1:-1]:
        first.setdefault(v.name, v)
    phases, t = [], float(start_s)
    wf_num = wf_den = 0.0
    for ph in config.phases:
        if ph.duration_ms == 0:
            continue
        end = t + ph.duration_ms / 1000.0
        total = sum(a.weight for a in ph.patterns)
        segs, wf = [], 0.0
        for a in ph.patterns:
            if a.weight == 0:
                continue
            rate, v = accesses_per_s * a.weight / total, first[a.region]
            if a.random:
                segs.append(RateSegment(0, v.start, v.end, "uniform", {"total_rate": rate}))
            else:
                stride = a.stride if a.stride > 0 else v.size
                segs.append(RateSegment(0, v.start, v.end, "sequential",
                                        {"total_rate": rate, "stride": stride}))
            wf += a.weight * _RW_WRITE_FRACTION[a.rw_mode or default_rw_mode]
        wf = min(1.0, wf / total) if segs else 0.0
        phases.append(Phase(t, end, ph.name, segs, wf if segs else None))
        if segs:
            wf_num, wf_den = wf_num + wf * (end - t), wf_den + (end - t)
        t = end
    return Workload(config.name, [proc], phases,
                    wf_num / wf_den if wf_den else _RW_WRITE_FRACTION[default_rw_mode],
                    u_target, f"masim config {config.name}")
