"""struct damon_target, and what the ops sets and samplers read of a context.

Its own module so that the ops sets, the samplers and the fused path can name a target and
the context's fields they read without importing ``core``, which imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from damon_gym.damon.attrs import Attrs
from damon_gym.damon.regions import RegionArrays


@dataclass
class Target:
    """struct damon_target: a process (vaddr) or the physical address space (paddr)."""

    pid: int | None = None
    proc_idx: int | None = None  # index in the MemorySystem's processes (vaddr)
    regions: RegionArrays = field(default_factory=RegionArrays)
    obsolete: bool = False

    def process_index(self) -> int:
        """``proc_idx`` of a vaddr target, which always names its process (callers of the
        vaddr paths skip targets without one)."""
        if self.proc_idx is None:
            raise ValueError("a vaddr target without a process has no address space")
        return self.proc_idx


class ContextView(Protocol):
    """The fields of a monitoring context (``core.Context``) the ops sets read."""

    @property
    def attrs(self) -> Attrs: ...
    @property
    def min_region_sz(self) -> int: ...
    @property
    def targets(self) -> Sequence[Target]: ...


__all__ = ["Target", "ContextView"]
