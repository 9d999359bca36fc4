"""Scenarios: a topology, a workload, DAMON parameters, a seed and a duration, read from YAML.

A scenario file (``configs/scenarios/<name>.yaml``) is validated with pydantic at load time;
every problem is reported as one line naming the field, the value and what is allowed::

    name: default
    topology: tiny                  # preset name, a YAML path, or an inline mapping
    capacity_scale: 1.0
    page_size: 4 KiB
    workload: {generator: hot_cold, params: {size: 64 MiB, ...}}
    damon: {kdamonds: [...]}        # damo's JSON layout inline, or a path to such a file
    seed: 0
    duration: 20 s
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from damon_gym.units import UnitError, parse_size, parse_time

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SCENARIO_DIR = CONFIG_DIR / "scenarios"


class ScenarioError(ValueError):
    """A scenario that does not validate; the message has one line per problem."""


class WorkloadSpec(BaseModel):
    """Either a named generator with parameters, or a masim config file."""

    model_config = ConfigDict(extra="forbid")

    generator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    masim: str | None = None
    accesses_per_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> WorkloadSpec:
        if (self.generator is None) == (self.masim is None):
            raise ValueError("give exactly one of 'generator' (with 'params') or 'masim' (a config path)")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "scenario"
    description: str = ""
    topology: str | dict[str, Any] = "tiny"
    capacity_scale: float = Field(default=1.0, gt=0)
    page_size: int = 4096
    workload: WorkloadSpec
    damon: str | dict[str, Any] | None = None
    sampler: Literal["fast", "reference"] = "fast"
    paddr_nodes: list[int] | None = None
    paddr_dests: Literal["kernel", "rfc_round_robin"] = "kernel"
    rfc_goal_metrics: bool = False
    seed: int = Field(default=0, ge=0)
    duration_us: int = Field(default=10_000_000, gt=0, alias="duration")
    base_dir: str | None = Field(default=None, exclude=True)

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
            if isinstance(v, (int, float)) or (isinstance(v, str) and v.strip().replace(".", "", 1).isdigit()):
                secs = float(v)
                if secs <= 0:
                    raise ValueError(f"{v!r}: must be > 0 seconds")
                return int(round(secs * 1_000_000))
            return parse_time(v, "duration", unit="us")
        except UnitError as e:
            raise ValueError(str(e)) from None

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

    def content_hash(self) -> str:
        """A stable hash of the scenario's content (sha256 of canonical JSON, 16 hex digits)."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _format_errors(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        val = e.get("input")
        shown = "" if isinstance(val, dict) else f" (got {val!r})"
        lines.append(f"{source}: {loc}: {msg}{shown}")
    return "\n".join(lines)


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path | dict, **overrides: Any) -> Scenario:
    """A scenario by name (configs/scenarios/<name>.yaml), by path, or from a dict."""
    if isinstance(name_or_path, dict):
        data, source, base = dict(name_or_path), "scenario", None
    else:
        p = Path(name_or_path)
        if not p.suffix and not p.exists():
            p = SCENARIO_DIR / f"{name_or_path}.yaml"
            if not p.exists():
                raise ScenarioError(f"scenario {str(name_or_path)!r} not found; "
                                    f"known scenarios: {', '.join(scenario_names())}")
        if not p.exists():
            raise ScenarioError(f"{p}: no such scenario file")
        source, base = str(p), str(p.parent)
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise ScenarioError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ScenarioError(f"{p}: a scenario is a mapping of fields, got {type(data).__name__}")
    data.update(overrides)
    data["base_dir"] = base
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_format_errors(source, e)) from None
