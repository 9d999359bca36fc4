"""Scenarios: a topology, a workload, background load, DAMON parameters, a seed and a duration.

A scenario file (``configs/scenarios/<name>.yaml``) is validated with pydantic at load time;
every problem is reported as one line naming the field, the value and what is allowed::

    name: gups-p2-bg
    description: what the scenario is (free text)
    stresses: one line on what it stresses (``damon-gym scenarios list`` prints it)
    regime: latency-bound | bandwidth-bound | ... (for the suites table)
    extends: other-scenario         # optional: start from that file, deep-merge this one over it
    topology: tiny                  # preset name, a YAML path, or an inline mapping
    capacity_scale: 1.0
    page_size: 4 KiB
    unmovable: [96 MiB, 0]          # optional: kernel (unmovable) memory per node, real bytes
    kernel: "7.3"                   # optional: follow that kernel's quota rules (quota.KERNELS)
    workload: {preset: gups, params: {size: 192 MiB}}   # or {generator: ..., params: ...},
                                    # {masim: path}, {replay: damo record path}; see WorkloadSpec
    background: vary-pulse5         # a background.py preset, cores, steps or a mapping; None
    damon: {kdamonds: [...]}        # damo's JSON layout inline, or a path to such a file
    seed: 0
    duration: 20 s

Workload parameters, ``workload.u_target`` and ``background`` may be distributions
(``{range: [lo, hi]}``, ``{choice: [...]}``, see :mod:`damon_gym.randomize`);
:meth:`Scenario.resolved` draws them from an episode seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
)

from damon_gym.configs import CONFIG_DIR, SCENARIO_DIR
from damon_gym.errors import DamonGymError
from damon_gym.randomize import check_dists, episode_rng, has_dist, sample
from damon_gym.safe_yaml import YamlError, read_yaml
from damon_gym.scenario_workload import WorkloadSpec, make_background
from damon_gym.units import UnitError, parse_seconds, parse_size
from damon_gym.workloads.background import BackgroundTrace
from damon_gym.workloads.presets import deep_merge

if TYPE_CHECKING:  # pydantic's own return type of model_copy (typing.Self from 3.11)
    from typing_extensions import Self

#: documentation-only fields, left out of the content hash
DOC_FIELDS = ("name", "description", "stresses", "regime")

#: the longest scenario (one day of simulated time): longer is a typo, not a plan
MAX_DURATION_US = 86_400_000_000


class ScenarioError(DamonGymError):
    """A scenario that does not validate; the message has one line per problem."""


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # set on what resolved() returns, concrete by construction: is_randomized need not walk
    # the workload again (a reset asks three times; each walk dumps the whole workload)
    _concrete: bool = PrivateAttr(default=False)

    name: str = "scenario"
    description: str = ""
    stresses: str = ""
    regime: str = ""
    topology: str | dict[str, Any] = "tiny"
    capacity_scale: float = Field(default=1.0, gt=0, le=1024, allow_inf_nan=False)
    page_size: int = 4096
    workload: WorkloadSpec
    background: str | float | list | dict[str, Any] | None = None
    damon: str | dict[str, Any] | None = None
    sampler: Literal["fast", "reference"] = "fast"
    paddr_nodes: list[int] | None = None
    #: unmovable (kernel) memory per node, the real machine's bytes (``[128 MiB, 0]``): the
    #: lowest frames of each node, which no process owns and nothing migrates; left out,
    #: each node's memmap (1/64 of its capacity, build.scenario_unmovable); ``[0, 0]``: none
    unmovable: list[int] | None = None
    #: the kernel whose DAMOS quota rules to follow ("6.17", "7.3", ... damos.quota.KERNELS:
    #: the first goal window, sub-page quotas; docs/damon_semantics.md [DS 4.1]); None: the
    #: newest's (damos.quota.NEWEST_KERNEL)
    kernel: str | None = None
    paddr_dests: Literal["kernel", "rfc_round_robin"] = "kernel"
    rfc_goal_metrics: bool = False  # allow the 2026 RFC goal metric node_ineligible_mem_bp
    seed: int = Field(default=0, ge=0)
    duration_us: int = Field(default=10_000_000, gt=0, alias="duration")
    sampled: dict[str, Any] = Field(default_factory=dict)
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("unmovable", mode="before")
    @classmethod
    def _unmovable(cls, v: Any) -> list[int] | None:
        if v is None:
            return None
        if not isinstance(v, list):
            raise ValueError(f"{v!r}: a list of sizes, one per node (e.g. [128 MiB, 0])")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(parse_size(x, f"unmovable[{i}]"))
            except UnitError as e:
                raise ValueError(str(e)) from None
        return out

    @field_validator("kernel", mode="before")
    @classmethod
    def _kernel(cls, v: Any) -> str | None:
        from damon_gym.damos.quota import KERNELS

        if v is None:
            return None
        # YAML reads a bare 6.17 as a number; every allowed version survives str()
        text = str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        if text not in KERNELS:
            raise ValueError(f"got {v!r}; allowed: {', '.join(repr(k) for k in KERNELS)} "
                             "(a kernel's MAJOR.MINOR, as a string), or leave it out for the "
                             "newest kernel's rules")
        return text

    @field_validator("page_size", mode="before")
    @classmethod
    def _page_size(cls, v: Any) -> int:
        try:
            n = parse_size(v, "page_size")
        except UnitError as e:
            raise ValueError(str(e)) from None
        if n not in (4096, 2 << 20):
            raise ValueError(f"{v!r}: allowed page sizes are 4 KiB and 2 MiB")
        return n

    @field_validator("duration_us", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        """Seconds when bare (20, 2.5, "20"), else a time string ("20 s", "500 ms")."""
        try:
            return parse_seconds(v, "duration", max_s=MAX_DURATION_US / 1e6)
        except UnitError as e:
            raise ValueError(str(e)) from None

    @field_validator("duration_us", mode="after")
    @classmethod
    def _duration_bound(cls, us: int) -> int:
        if us > MAX_DURATION_US:
            raise ValueError(f"{us / 1e6:.4g} s; allowed: at most one day (86400 s)")
        return us

    @field_serializer("duration_us")
    def _duration_out(self, us: int) -> int | str:
        """Whole seconds as a bare number, else "<us> us": what the validator reads back."""
        return us // 1_000_000 if us % 1_000_000 == 0 else f"{us} us"

    @field_validator("background", mode="after")
    @classmethod
    def _background(cls, v: Any) -> Any:
        check_dists(v, "background")
        if not has_dist(v):
            make_background(v)  # raises ValueError naming the problem
        return v

    # -- randomisation ----------------------------------------------------------------------
    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """pydantic's copy; one that replaces the workload or the background is no longer
        known to be concrete (``_concrete``), so ``is_randomized`` walks it again."""
        out = super().model_copy(update=update, deep=deep)
        if update and {"workload", "background"} & set(update):
            out._concrete = False
        return out

    @property
    def is_randomized(self) -> bool:
        """Whether the workload or background still holds distributions to draw."""
        if self._concrete:
            return False
        return has_dist(self.workload.model_dump()) or has_dist(self.background)

    def resolved(self, seed: int | None = None) -> Scenario:
        """The concrete scenario of episode ``seed`` (default: the scenario's): every
        distribution replaced by a draw from ``randomize.episode_rng(seed)``, ``seed`` set
        (it also seeds the workload generators), and the draws recorded in ``sampled``
        (path -> value), which ``scenarios show`` prints and the content hash covers. The same
        seed gives the same scenario; a concrete scenario only gets its seed changed."""
        seed = self.seed if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: got {seed!r}; allowed: an int >= 0")
        rng = episode_rng(seed)
        drawn: dict[str, Any] = {}
        data = self.model_dump(by_alias=True)
        data["workload"] = sample(data["workload"], rng, "workload", drawn)
        data["background"] = sample(data["background"], rng, "background", drawn)
        data.update(seed=seed, sampled={**self.sampled, **drawn}, base_dir=self.base_dir)
        try:
            out = Scenario.model_validate(data)
        except ValidationError as e:
            raise ScenarioError(_format_errors(f"{self.name} (seed {seed})", e)) from None
        out._concrete = True
        return out

    def background_trace(self) -> BackgroundTrace | None:
        """The background-load trace (None: no background); a randomised scenario is resolved
        with its own seed first."""
        sc = self.resolved() if self.is_randomized else self
        return make_background(sc.background)

    # -- files and hashing ------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """A path given in the scenario, relative to the scenario file's folder or configs/."""
        p = Path(path)
        if p.is_absolute():
            return p
        for base in filter(None, (self.base_dir, str(CONFIG_DIR), str(CONFIG_DIR.parent))):
            cand = Path(base) / p
            if cand.exists():
                return cand
        return p

    def referenced_files(self) -> dict[str, Path]:
        """Files whose content the scenario depends on: topology preset, masim config, damo
        record, DAMON parameter file."""
        from damon_gym.memory.topology import TOPOLOGY_DIR

        out: dict[str, Path] = {}
        if isinstance(self.topology, str):
            t = self.topology
            out["topology"] = (self.resolve(t) if t.endswith((".yaml", ".yml"))
                               else TOPOLOGY_DIR / f"{t}.yaml")
        for role in ("masim", "replay"):
            if getattr(self.workload, role) is not None:
                out[role] = self.resolve(getattr(self.workload, role))
        if isinstance(self.damon, str):
            out["damon"] = self.resolve(self.damon)
        return out

    def content_hash(self) -> str:
        """A stable hash of what the scenario simulates (sha256 of canonical JSON, 16 hex
        digits): every field except the documentation ones (name, description, stresses,
        regime), the workload with its preset expanded, and the sha256 of every referenced
        file (topology preset, masim config, replayed record, DAMON parameters), so editing a
        preset or a file changes the hash and renaming a scenario does not."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"base_dir", *DOC_FIELDS})
        if data.get("kernel") is None:  # unset: the hash of every scenario from before it
            data.pop("kernel", None)
        for k in ("description", "regime", "anchor"):
            data["workload"].pop(k, None)
        data["files"] = {role: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
                         for role, p in sorted(self.referenced_files().items())}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_yaml(self) -> str:
        """The scenario as YAML (loadable again by load_scenario)."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
        return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)


def _format_errors(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        val = e.get("input")
        shown = "" if isinstance(val, dict) or "got " in msg else f" (got {val!r})"
        lines.append(f"{source}: {loc}: {msg}{shown}")
    return "\n".join(lines)


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def _scenario_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            raise ScenarioError(f"scenario {str(name_or_path)!r} not found; "
                                f"known scenarios: {', '.join(scenario_names())}")
    if not p.exists():
        raise ScenarioError(f"{p}: no such scenario file")
    return p


def _parent_path(parent: str, child: Path) -> Path:
    """The file ``extends: parent`` of the scenario file ``child`` names: a path or a name
    beside ``child`` first (a relative path is the child's, not the working directory's), then
    a shipped scenario name."""
    cand = Path(parent)
    if not cand.is_absolute():
        for rel in (child.parent / cand, child.parent / f"{parent}.yaml"):
            if rel.is_file():
                return rel
    return _scenario_path(parent)


def _read_file(p: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A scenario file's mapping, with ``extends`` resolved (the parent's mapping with this
    one deep-merged over it, except that a workload naming its own preset, generator, masim
    config or record replaces the parent's); ``name`` defaults to the file's stem."""
    if p.resolve() in chain:
        raise ScenarioError(f"{p}: extends: a cycle ({' -> '.join(c.stem for c in chain)})")
    try:
        data = read_yaml(p)
    except YamlError as e:
        raise ScenarioError(str(e)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: a scenario is a mapping of fields, got {type(data).__name__}")
    data.setdefault("name", p.stem)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{p}: extends: got {parent!r}; allowed: a scenario name or path")
    base = _read_file(_parent_path(parent, p), (*chain, p.resolve()))
    wl = data.get("workload")
    if isinstance(wl, dict) and any(k in wl for k in ("preset", "generator", "masim", "replay")):
        base.pop("workload", None)  # a workload of its own replaces the parent's
    return deep_merge(base, data)


def load_scenario(name_or_path: str | Path | dict, **overrides: Any) -> Scenario:
    """A scenario by name (configs/scenarios/<name>.yaml), by path, or from a dict. Keyword
    overrides replace whole fields (``workload=...``)."""
    if isinstance(name_or_path, dict):
        data, source, base = dict(name_or_path), "scenario", None
    else:
        p = _scenario_path(name_or_path)
        source, base = str(p), str(p.parent)
        data = _read_file(p)
    data.update(overrides)
    data["base_dir"] = base
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_format_errors(source, e)) from None
