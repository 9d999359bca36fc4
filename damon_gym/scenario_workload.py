"""The workload and background parts of a scenario: ``WorkloadSpec`` (what runs: a preset,
a generator with parameters, a masim config or a damo record to replay, and its intensity),
the background trace a ``background`` value stands for, and the intensity schedule check.
``damon_gym.scenario`` builds the whole scenario from them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from damon_gym.randomize import check_dists, has_dist
from damon_gym.units import UnitError, parse_time
from damon_gym.workloads.background import BackgroundTrace, background_from_spec
from damon_gym.workloads.presets import check_generator_params, expand_preset

_BG_KEYS = {"preset", "steps", "node", "bytes_per_core_s", "period_s", "name", "scale",
            "time_scale"}


def make_background(spec: Any) -> BackgroundTrace | None:
    """The background trace of a (concrete) scenario ``background`` value: None (no
    background), a preset name (``vary-10-5-15``, ``vary-pulse5``, ``vary-pulse5-400``,
    ``0x``..``3x``, ``none``), a constant number of antagonist cores, a list of
    ``[start_s, cores]`` steps, or a mapping with ``preset`` or ``steps`` and optional
    ``node``, ``bytes_per_core_s``, ``period_s``, ``scale`` (multiplies the cores) and
    ``time_scale`` (multiplies the step times: 0.1 plays a 300 s trace in 30 s)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        extra = sorted(set(spec) - _BG_KEYS)
        if extra:
            raise ValueError(f"background.{extra[0]}: not a background key; allowed: "
                             f"{', '.join(sorted(_BG_KEYS))}")
        spec = dict(spec)
        scale, tscale = spec.pop("scale", 1.0), spec.pop("time_scale", 1.0)
        for key, v in (("scale", scale), ("time_scale", tscale)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or (key == "time_scale" and v == 0):
                raise ValueError(f"background.{key}: got {v!r}; allowed: a number "
                                 + (">= 0" if key == "scale" else "> 0"))
        tr = background_from_spec(spec)
        if scale == 1.0 and tscale == 1.0:
            return tr
        return BackgroundTrace(tuple((s * tscale, c * scale) for s, c in tr.steps), tr.node,
                               tr.bytes_per_core_s,
                               None if tr.period_s is None else tr.period_s * tscale, tr.name)
    return background_from_spec(spec)


def intensity_schedule(steps: Any) -> tuple[tuple[float, float], ...]:
    """A ``workload.u_target`` schedule ``[[start_s, u], ...]`` checked: the first start 0,
    starts increasing, every ``u`` in (0, 0.99]."""
    where = "workload.u_target"
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError(f"{where}: got {steps!r}; allowed: a non-empty list [[start_s, u], ...]")
    out: list[tuple[float, float]] = []
    for i, st in enumerate(steps):
        ok = (isinstance(st, (list, tuple)) and len(st) == 2
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in st))
        if not ok:
            raise ValueError(f"{where}[{i}]: got {st!r}; allowed: [start_s, u]")
        t, u = float(st[0]), float(st[1])
        if not 0.0 < u <= 0.99:
            raise ValueError(f"{where}[{i}]: u {st[1]!r}; allowed: a number in (0, 0.99]")
        if (i == 0 and t != 0.0) or (i > 0 and not t > out[-1][0]) or t > 1e9:
            raise ValueError(f"{where}[{i}]: start {st[0]!r}; allowed: 0 for the first step, "
                             "then increasing seconds")
        out.append((t, u))
    return tuple(out)


class WorkloadSpec(BaseModel):
    """A workload: a ``preset`` (configs/workloads/<name>.yaml, expanded at load, the other
    keys merged over it), or exactly one of a generator with ``params``, a ``masim`` config
    file (``accesses_per_s``), or a damo record to ``replay`` (``replay_target``: record index,
    ``sample_us``: sampling interval when the record lacks it). ``u_target`` overrides the
    built workload's intensity [PM 2.4]; a list ``[[start_s, u], ...]`` makes it
    change over time (phases of the workload that set their own intensity keep it). ``scale`` multiplies the built workload's
    bytes (the same pattern over ``scale`` times the memory, for a masim config or a record
    written for a small machine; see workloads/scaling.py). ``description``/``family``/``regime``/
    ``anchor`` come from the preset."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    family: str | None = None
    description: str = ""
    regime: str | None = None
    anchor: str | None = None
    generator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    masim: str | None = None
    accesses_per_s: float | None = Field(default=None, gt=0)
    replay: str | None = None
    replay_target: int = Field(default=0, ge=0)
    sample_us: int | None = Field(default=None, gt=0)
    u_target: float | dict[str, Any] | list | None = None
    scale: float = Field(default=1.0, gt=0, le=2**20, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        return expand_preset(data) if isinstance(data, dict) else data

    @field_validator("sample_us", mode="before")
    @classmethod
    def _sample_us(cls, v: Any) -> Any:
        try:
            return None if v is None else parse_time(v, "sample_us", unit="us")
        except UnitError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _one_kind(self) -> WorkloadSpec:
        kinds = [k for k in ("generator", "masim", "replay") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'preset', 'generator' (with 'params'), "
                             f"'masim' (a config path) or 'replay' (a damo record); got {kinds}")
        if self.generator is not None:
            check_dists(self.params, "workload.params")
            check_generator_params(self.generator, self.params)
        elif self.params:
            raise ValueError(f"workload.params: got {self.params!r}; allowed only with "
                             "'generator'")
        if self.accesses_per_s is not None and self.masim is None:
            raise ValueError("workload.accesses_per_s: allowed only with 'masim'")
        if self.replay is None and (self.replay_target or self.sample_us is not None):
            raise ValueError("workload.replay_target/sample_us: allowed only with 'replay'")
        u = self.u_target
        allowed = ("a number in (0, 0.99], {range: [lo, hi]} / {choice: [...]}, or a schedule "
                   "[[start_s, u], ...] (first start 0, starts increasing)")
        if isinstance(u, dict):
            check_dists(u, "workload.u_target")
            if not has_dist(u):
                raise ValueError(f"workload.u_target: got {u!r}; allowed: {allowed}")
        elif isinstance(u, list):
            check_dists(u, "workload.u_target")
            if not has_dist(u):
                intensity_schedule(u)  # raises naming the problem
        elif u is not None and not (isinstance(u, (int, float)) and not isinstance(u, bool)
                                    and 0.0 < u <= 0.99):
            raise ValueError(f"workload.u_target: got {u!r}; allowed: {allowed}")
        return self

    @property
    def family_name(self) -> str:
        """The workload family: the preset's ``family``, else the generator, masim or replay."""
        if self.family:
            return self.family
        return self.generator or ("masim" if self.masim is not None else "replay")
