"""Suites: named, versioned lists of (scenario, seed) episodes in ``configs/suites/<name>.yaml``.

::

    name: train
    description: what the suite is for
    entries:
      - {scenario: gups-tiny, seeds: [0, 1, 2]}
      - {scenario: gups-p2-rand, seeds: {from: 0, count: 16}}
      - {scenario: tiering-default, seeds: [0, 1], tasks: [Tiering, Joint]}

:func:`load_suite` returns the episodes as ``SuiteEntry(scenario, seed)`` tuples, in file order,
after checking that every scenario exists and validates and that no episode repeats.
:func:`suite_scenarios` gives the concrete scenarios (``load_scenario(name).resolved(seed)``:
the seed draws the randomised values and seeds the workload). Shipped suites: ``smoke`` (three
short scenarios for tests), ``train`` and ``test`` (disjoint seeds; ``test`` holds workload
families and topologies that ``train`` never shows), ``train-deep`` (``train`` plus episodes
whose throughput drops are as deep as ``test``'s, on node values ``train`` shows), ``anchors``
([PM 2.4] checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from damon_gym.errors import DamonGymError
from damon_gym.safe_yaml import YamlError, read_yaml
from damon_gym.scenario import CONFIG_DIR, Scenario, ScenarioError, load_scenario

SUITE_DIR = CONFIG_DIR / "suites"

__all__ = ["SUITE_DIR", "SuiteError", "SuiteEntry", "suite_names", "load_suite",
           "suite_scenarios", "suite_summary", "scenario_topology"]


class SuiteError(DamonGymError):
    """A suite that does not validate; one line per problem."""


class SuiteEntry(NamedTuple):
    scenario: str
    seed: int


class _SeedRange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: int = Field(ge=0, alias="from")
    count: int = Field(ge=1, le=100_000)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1)
    seeds: list[int] | _SeedRange = Field(default_factory=lambda: [0])
    tasks: list[Literal["Interleave", "Tiering", "Joint"]] | None = None

    def for_task(self, task: str | None) -> bool:
        """Whether the entry is meant for ``task`` (every task when it lists none)."""
        return task is None or self.tasks is None or task in self.tasks

    @field_validator("seeds", mode="after")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not v:
                raise ValueError("got []; allowed: a non-empty list of seeds >= 0")
            bad = [s for s in v if s < 0]
            if bad:
                raise ValueError(f"got {bad[0]!r}; allowed: seeds >= 0")
        return v

    def seed_list(self) -> list[int]:
        s = self.seeds
        return list(s) if isinstance(s, list) else list(range(s.start, s.start + s.count))


class _Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    entries: list[_Entry] = Field(min_length=1)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def _suite_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    q = SUITE_DIR / f"{name_or_path}.yaml"
    if not q.exists():
        raise SuiteError(f"suite {str(name_or_path)!r} not found; known suites: "
                         f"{', '.join(suite_names())}")
    return q


def _read(name_or_path: str | Path) -> tuple[_Suite, str]:
    p = _suite_path(name_or_path)
    try:
        data = read_yaml(p)
    except YamlError as e:
        raise SuiteError(str(e)) from None
    if isinstance(data, dict):
        data.setdefault("name", p.stem)
    try:
        return _Suite.model_validate(data), str(p)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            shown = "" if "got " in msg else f" (got {err.get('input')!r})"
            lines.append(f"{p}: {loc}: {msg}{shown}")
        raise SuiteError("\n".join(lines)) from None


def load_suite(name_or_path: str | Path, *, check_scenarios: bool = True,
               task: str | None = None) -> list[SuiteEntry]:
    """The episodes of a suite, ``[(scenario name, seed), ...]`` in file order (with ``task``:
    only the entries meant for that task; an entry without ``tasks`` is meant for all). Checks
    that no (scenario, seed) repeats and (``check_scenarios``) that every scenario loads."""
    suite, src = _read(name_or_path)
    out: list[SuiteEntry] = []
    seen: set[SuiteEntry] = set()
    problems: list[str] = []
    for i, e in enumerate(suite.entries):
        if not e.for_task(task):
            continue
        if check_scenarios:
            try:
                load_scenario(e.scenario)
            except ScenarioError as err:
                first = str(err).splitlines()[0]
                problems.append(f"{src}: entries.{i}.scenario: {e.scenario!r} does not load: "
                                f"{first}")
                continue
        for s in e.seed_list():
            ent = SuiteEntry(e.scenario, s)
            if ent in seen:
                problems.append(f"{src}: entries.{i}: episode ({e.scenario}, seed {s}) is "
                                "listed twice; allowed: each (scenario, seed) once")
            seen.add(ent)
            out.append(ent)
    if problems:
        raise SuiteError("\n".join(problems))
    return out


def suite_scenarios(name_or_path: str | Path, task: str | None = None) -> list[Scenario]:
    """The concrete scenario of every episode: ``load_scenario(name).resolved(seed)``."""
    cache: dict[str, Scenario] = {}
    out = []
    for name, seed in load_suite(name_or_path, task=task):
        if name not in cache:
            cache[name] = load_scenario(name)
        out.append(cache[name].resolved(seed))
    return out


def scenario_topology(sc: Scenario) -> str:
    """The topology's name: the preset name or path, or an inline topology's ``name``."""
    t = sc.topology
    return str(t.get("name", "inline")) if isinstance(t, dict) else Path(t).stem


def suite_summary(name_or_path: str | Path) -> dict[str, Any]:
    """Scenarios, workload families, topologies and seeds of a suite (for docs and checks)."""
    entries = load_suite(name_or_path)
    scen = {n: load_scenario(n) for n in dict.fromkeys(n for n, _ in entries)}
    return {"scenarios": list(scen),
            "families": sorted({sc.workload.family_name for sc in scen.values()}),
            "topologies": sorted({scenario_topology(sc) for sc in scen.values()}),
            "seeds": sorted({s for _, s in entries}),
            "episodes": len(entries)}
