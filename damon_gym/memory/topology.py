"""Machine topology: NUMA nodes (DRAM, CXL, HBM, remote socket) with capacity, bandwidth and
loaded-latency curve, as typed and validated pydantic v2 models read from YAML presets.

Presets live in ``configs/topologies/<name>.yaml`` [PM 2.9]. Bandwidths
are GB/s (1e9 bytes/s), latencies ns, capacities bytes (YAML may say "128 GiB").
The loaded-latency curve of a node is ``L(u) = L0 * (1 + a*u + b*u**2/(1-u))`` [PM 2.2].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from damon_gym.caches import bounded_put
from damon_gym.configs import CONFIG_DIR
from damon_gym.errors import DamonGymError
from damon_gym.memory.mempolicy import reduce_interleave_weights
from damon_gym.safe_yaml import YamlError, read_yaml
from damon_gym.units import UnitError, format_size, parse_size

MiB = 1 << 20
#: granularity of :meth:`Topology.scaled` capacities (a THP / 2 MiB simulation page)
SCALE_GRANULE = 2 * MiB
MAX_CAPACITY = 1 << 52  # 4 PiB per node: anything above is a typo
TOPOLOGY_DIR = CONFIG_DIR / "topologies"

NodeKind = Literal["dram", "cxl", "hbm", "remote"]


class TopologyError(DamonGymError):
    """A topology file or dict that does not validate: one line per problem."""


class NodeSpec(BaseModel):
    """One NUMA node with memory (a kernel ``N_MEMORY`` node).

    ``bw_read_gbps`` is the sustainable all-read bandwidth, ``bw_rw_gbps`` the sustainable
    bandwidth at 1:1 read:write (default: the read figure), ``hmat_bw_gbps`` the firmware
    (HMAT/CDAT) bandwidth that weighted interleave's auto mode uses (default:
    ``min(read, rw)``, as the kernel takes ``min(read_bw, write_bw)``). ``idle_latency_ns`` is L0
    and ``curve_a``/``curve_b`` shape the loaded-latency curve.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    kind: NodeKind
    capacity: int = Field(gt=0, le=MAX_CAPACITY)
    bw_read_gbps: float = Field(gt=0)
    bw_rw_gbps: float | None = Field(default=None, gt=0)
    hmat_bw_gbps: float | None = Field(default=None, gt=0)
    idle_latency_ns: float = Field(gt=0)
    curve_a: float = Field(default=0.5, ge=0)
    curve_b: float = Field(default=0.05, ge=0)

    @field_validator("capacity", mode="before")
    @classmethod
    def _parse_capacity(cls, v: Any) -> Any:
        expected = 'expected bytes or a size such as "128 GiB" or "256 MiB"'
        if isinstance(v, str) and v.strip().lower() in ("max", "min"):
            raise ValueError(expected)
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            try:
                return parse_size(v, "capacity")
            except UnitError:
                raise ValueError(expected) from None
        return v

    @model_validator(mode="after")
    def _fill_defaults(self) -> NodeSpec:
        # frozen model: fill the derived defaults once, at validation time
        rw = self.bw_read_gbps if self.bw_rw_gbps is None else self.bw_rw_gbps
        if self.bw_rw_gbps is None:
            object.__setattr__(self, "bw_rw_gbps", rw)
        if self.hmat_bw_gbps is None:
            object.__setattr__(self, "hmat_bw_gbps", min(self.bw_read_gbps, rw))
        return self

    @property
    def hmat_bw_mbps(self) -> int:
        """The firmware bandwidth in integer MB/s, the unit the kernel's HMAT/CDAT code uses."""
        return int(round(float(self.hmat_bw_gbps) * 1000))  # type: ignore[arg-type]


class Topology(BaseModel):
    """A machine: 2..8 memory nodes and the node whose CPUs run the workload (``cpu_node``).

    Node ids are list positions (node 0 first), as NUMA node ids.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    nodes: list[NodeSpec] = Field(min_length=2, max_length=8)
    cpu_node: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Topology:
        if self.cpu_node >= len(self.nodes):
            raise ValueError(f"cpu_node: {self.cpu_node} is not a node id "
                             f"(allowed: 0..{len(self.nodes) - 1})")
        names = [n.name for n in self.nodes]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"nodes: duplicate node names {dups}")
        return self

    @property
    def nr_nodes(self) -> int:
        return len(self.nodes)

    @property
    def capacities(self) -> list[int]:
        """Bytes per node."""
        return [n.capacity for n in self.nodes]

    def node_id(self, name: str) -> int:
        """The id of the node called ``name``."""
        for i, n in enumerate(self.nodes):
            if n.name == name:
                return i
        raise ValueError(f"node {name!r} not in topology {self.name!r} "
                         f"(nodes: {[n.name for n in self.nodes]})")

    def scaled(self, capacity_scale: float) -> Topology:
        """The same machine with every capacity multiplied by ``capacity_scale``, rounded down to a
        multiple of 2 MiB and at least 2 MiB (to simulate a big machine with fewer frames)."""
        if not capacity_scale > 0 or capacity_scale != capacity_scale:
            raise ValueError(f"capacity_scale: {capacity_scale} must be > 0")
        hit = _SCALED.get((id(self), capacity_scale))
        if hit is not None and hit[0] is self:  # the same (frozen) machine scaled before
            return hit[1]
        nodes = []
        for n in self.nodes:
            cap = int(n.capacity * capacity_scale) // SCALE_GRANULE * SCALE_GRANULE
            nodes.append(n.model_copy(update={"capacity": max(cap, SCALE_GRANULE)}))
        out = self.model_copy(update={"nodes": nodes})
        # the entry holds self, so its id stays unique while cached
        bounded_put(_SCALED, (id(self), capacity_scale), (self, out), 256)
        return out

    def auto_weights(self) -> list[int]:
        """Weighted-interleave auto-mode weights (kernel ``reduce_interleave_weights``, weightiness
        32) from each node's ``hmat_bw_gbps`` converted to integer MB/s."""
        return reduce_interleave_weights([n.hmat_bw_mbps for n in self.nodes])

    def fallback_order(self, node: int) -> list[int]:
        """Where an allocation preferring ``node`` goes when it is full (the zonelist): the node
        itself, then the other nodes by increasing idle latency, ties by id."""
        if not 0 <= node < len(self.nodes):
            raise ValueError(f"node: {node} is not a node id (allowed: 0..{len(self.nodes) - 1})")
        others = sorted((i for i in range(len(self.nodes)) if i != node),
                        key=lambda i: (self.nodes[i].idle_latency_ns, i))
        return [node, *others]

    def summary(self) -> str:
        """One line per node, for logs."""
        lines = [f"{self.name}: {self.description}".rstrip(": ")]
        for i, n in enumerate(self.nodes):
            lines.append(f"  node{i} {n.name} ({n.kind}) {format_size(n.capacity)}, "
                         f"{n.bw_read_gbps:g}/{n.bw_rw_gbps:g} GB/s, {n.idle_latency_ns:g} ns")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# loading and error reporting

_NODE_FIELDS = list(NodeSpec.model_fields)
_TOPOLOGY_FIELDS = list(Topology.model_fields)


def _loc_str(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _describe(err: ErrorDetails) -> str:
    """One human line for one pydantic error: field path, bad value, what is allowed."""
    loc = tuple(err.get("loc", ()))
    path = _loc_str(loc)
    typ = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = f" (got {_short(err['input'])})" if "input" in err else ""
    if typ == "extra_forbidden":
        allowed = _NODE_FIELDS if "nodes" in loc[:1] and len(loc) >= 3 else _TOPOLOGY_FIELDS
        return f"{path}: unknown key; allowed keys: {', '.join(allowed)}"
    if typ == "missing":
        return f"{path}: required field is missing"
    if typ in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[typ]
        bound = next(iter(ctx.values()), "?")
        return f"{path}: must be {op} {bound}{got}"
    if typ == "literal_error":
        return f"{path}: must be one of {ctx.get('expected', '?')}{got}"
    if typ in ("too_short", "too_long") and path == "nodes":
        return f"nodes: needs 2..8 nodes, got {ctx.get('actual_length', '?')}"
    if typ == "value_error":
        msg = str(ctx.get("error", err.get("msg", "")))
        if loc:
            return f"{path}: {msg}{got}"
        return msg  # model-level check: the message names its own field
    if typ == "finite_number":
        return f"{path}: must be a finite number{got}"
    return f"{path}: {err.get('msg', 'invalid')}{got}"


def topology_from_dict(data: Any, source: str = "<dict>") -> Topology:
    """A validated :class:`Topology` from a mapping; errors raise :class:`TopologyError` with one
    line per problem, each starting with ``source``."""
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: expected a mapping with keys "
                            f"{', '.join(_TOPOLOGY_FIELDS)}, got {type(data).__name__}")
    try:
        return Topology.model_validate(data)
    except ValidationError as e:
        lines = [f"{source}: {_describe(err)}" for err in e.errors()]
        raise TopologyError("\n".join(lines)) from None


def available_topologies() -> list[str]:
    """Names of the preset topologies (``configs/topologies/*.yaml``)."""
    return sorted(p.stem for p in TOPOLOGY_DIR.glob("*.yaml"))


def topology_file(name_or_path: str | Path, base_dir: str | Path | None = None) -> Path:
    """The file of a preset name (``configs/topologies/<name>.yaml``) or of a path (``.yaml``
    or ``.yml``, or anything with a path separator; relative paths against ``base_dir`` when
    given, else the working directory); TopologyError for an unknown name or a missing file."""
    p = Path(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or p.suffix in (".yaml", ".yml") \
        or "/" in str(name_or_path) or "\\" in str(name_or_path)
    if not looks_like_path:
        p = TOPOLOGY_DIR / f"{name_or_path}.yaml"
        if not p.is_file():
            raise TopologyError(f"unknown topology {str(name_or_path)!r}; available: "
                                f"{', '.join(available_topologies())} (or a path to a .yaml file)")
        return p
    if base_dir is not None and not p.is_absolute():
        p = Path(base_dir) / p
    if not p.is_file():
        raise TopologyError(f"{p}: no such topology file")
    return p


def load_topology(name_or_path: str | Path) -> Topology:
    """A preset by name (``"P1-SPR"`` -> ``configs/topologies/P1-SPR.yaml``) or a YAML file path.

    Raises ValueError (``TopologyError``) for an unknown name (listing the available ones), an
    unreadable file, or a file that does not validate (naming file, field, value and what is
    allowed).
    """
    p = topology_file(name_or_path)
    # validated once per file content: every env reset asks for its machine again, and
    # validation costs a millisecond (Topology is frozen: one object serves every caller)
    try:
        data = read_yaml(p)
    except YamlError as e:
        raise TopologyError(str(e)) from None
    key = (str(p), repr(data))
    topo = _LOADED.get(key)
    if topo is None:
        topo = bounded_put(_LOADED, key, topology_from_dict(data, str(p)), 256)
    return topo


_LOADED: dict[tuple, Topology] = {}
_SCALED: dict[tuple, tuple[Topology, Topology]] = {}
