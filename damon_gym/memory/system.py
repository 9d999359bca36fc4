"""The simulated machine: physical frames on NUMA nodes, processes' pages mapped onto them,
first-touch allocation under a mempolicy, and the migration engine DAMOS drives.

State is struct-of-arrays numpy, never one Python object per page. A "frame" is one
simulation page of physical memory (``page_size`` bytes: 4 KiB, or 2 MiB to model THP-backed
memory with fewer frames). Node ``i`` owns frames ``[node_start_frame[i], node_start_frame[i+1])``
and frame ``f`` has physical address ``f * page_size`` (node 0 first, contiguous), so a DAMON
paddr region maps to nodes by a search over the node boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from damon_gym.memory.frames import (
    UNMOVABLE,
    FrameChangeLog,
    FreeFrameStacks,
    node_rate_sums_of,
)
from damon_gym.memory.invariants import check_invariants
from damon_gym.memory.mempolicy import interleave_index
from damon_gym.memory.migration import (
    DEFAULT_PINGPONG_WINDOW_US,
    MigrationCounters,
    MigrationResult,
    migrate_frames_of,
    migrate_page_groups_of,
)
from damon_gym.memory.placement import (
    AllocResult,
    LocalPolicy,
    MemPolicy,
    plan_spill,
    policy_nodes,
    preferred_nodes,
)
from damon_gym.memory.process import ProcessMemory
from damon_gym.memory.topology import Topology

#: Most frames one machine may have (keeps per-frame arrays and monitors fast).
MAX_FRAMES = 1 << 22


def access_probability(rates: np.ndarray, tau_us: int) -> np.ndarray:
    """P(page accessed during one sampling interval of ``tau_us``) = 1 - exp(-rate * tau), per
    page (Poisson accesses at ``rate`` per second). Computed only where the rate is not zero
    (free frames, idle pages): there it is exactly 0, and expm1 is the costly part."""
    rates = np.asarray(rates, dtype=np.float64)
    out = np.zeros(rates.shape)
    nz = np.flatnonzero(rates)
    if nz.size == rates.size:
        return -np.expm1(-rates * (tau_us * 1e-6))
    out[nz] = -np.expm1(-rates[nz] * (tau_us * 1e-6))
    return out


def _unique_in_order(arr: np.ndarray) -> np.ndarray:
    """``arr`` without repeats, first occurrences kept in their order."""
    if len(arr) < 2 or (arr[1:] > arr[:-1]).all():  # strictly increasing: no repeats
        return arr
    _, first = np.unique(arr, return_index=True)
    if len(first) == len(arr):
        return arr
    return arr[np.sort(first)]


class MemorySystem:
    """A machine built from a :class:`Topology`: frames, free lists, processes, migration.

    Per-frame arrays: ``frame_node`` (int8), ``frame_proc`` (int32 process index, -1 = free,
    -2 = unmovable: the kernel's memory, ``unmovable_bytes`` per node at its lowest frames),
    ``frame_vpage`` (int64 page index inside the process, -1 = free). Per node (int64):
    ``used_frames``, ``free_frames`` (maintained incrementally; treat as read-only).
    ``procs[idx]`` is the :class:`ProcessMemory` of process ``idx``.
    """

    def __init__(self, topology: Topology, page_size: int = 4096,
                 pingpong_window_us: int = DEFAULT_PINGPONG_WINDOW_US,
                 unmovable_bytes: Sequence[int] | None = None) -> None:
        if not isinstance(page_size, (int, np.integer)) or page_size < 4096 \
                or page_size & (page_size - 1):
            raise ValueError(f"page_size: {page_size!r} must be a power of two >= 4096")
        page_size = int(page_size)
        if pingpong_window_us < 0:
            raise ValueError(f"pingpong_window_us: {pingpong_window_us} is negative")
        self.topology = topology
        self.page_size = page_size
        self.page_order = page_size.bit_length() - 1 - 12  # folio order vs 4 KiB base pages
        self.pingpong_window_us = int(pingpong_window_us)
        per_node = [n.capacity // page_size for n in topology.nodes]
        for i, f in enumerate(per_node):
            if f < 1:
                raise ValueError(f"node {i} ({topology.nodes[i].name}): capacity "
                                 f"{topology.nodes[i].capacity} B is below one page of {page_size} B")
        total = sum(per_node)
        if total > MAX_FRAMES:
            raise ValueError(f"{topology.name}: {total} frames of {page_size} B exceed the "
                             f"limit of {MAX_FRAMES}; use a bigger page_size (e.g. 2 MiB = "
                             f"{2 << 20}) or Topology.scaled()")
        self.node_start_frame = np.concatenate(([0], np.cumsum(per_node))).astype(np.int64)
        self.node_nr_frames = np.asarray(per_node, dtype=np.int64)
        self.nr_frames = int(total)
        self.frame_node = np.repeat(np.arange(len(per_node), dtype=np.int8), per_node)
        self.frame_proc = np.full(total, -1, dtype=np.int32)
        self.frame_vpage = np.full(total, -1, dtype=np.int64)
        self._free = FreeFrameStacks(self.node_start_frame)
        self.free_frames = self._free.count  # the same array the free stacks update
        self.used_frames = np.zeros(len(per_node), dtype=np.int64)
        self.procs: list[ProcessMemory] = []
        self._fallback = [topology.fallback_order(i) for i in range(len(per_node))]
        self._log = FrameChangeLog(limit=total)
        self._mig = MigrationCounters(len(per_node), page_size)
        self.placement_version = 0  # bumped by every change of frame ownership
        # memory no process owns and nothing migrates (the kernel's own pages): the lowest
        # frames of each node, taken off the free stacks for good and counted as used
        self.unmovable_frames = np.zeros(len(per_node), dtype=np.int64)
        if unmovable_bytes is not None:
            self._reserve_unmovable(unmovable_bytes)
        self.fast_migration = True  # frames of one process migrate in numba (same result)
        self._rate_sums: tuple | None = None  # node_rate_sums cache
        # per process: (version, first, last + 1) of its allocated pages, for node_rate_sums
        self._rate_spans: dict[int, tuple[int, int, int]] = {}
        self._frame_p: tuple | None = None  # frame_access_probabilities cache
        self._buf = np.empty(0, dtype=np.int64)  # scratch of the numba migrations

    # ------------------------------------------------------------------ nodes and frames
    def _reserve_unmovable(self, unmovable_bytes: Sequence[int]) -> None:
        nb = list(unmovable_bytes)
        if len(nb) != len(self.node_nr_frames):
            raise ValueError(f"unmovable: {len(nb)} values given; the machine has "
                             f"{len(self.node_nr_frames)} nodes (one value per node)")
        for i, b in enumerate(nb):
            cap = int(self.node_nr_frames[i]) * self.page_size
            if not isinstance(b, (int, np.integer)) or not 0 <= b < cap:
                raise ValueError(f"unmovable[{i}]: {b!r}; allowed: 0 <= bytes < the node's "
                                 f"capacity ({cap} B)")
            k = -(-int(b) // self.page_size)
            if k:
                frames = self._free.pop(i, k)  # the node's lowest frames (top of its stack)
                self.frame_proc[frames] = UNMOVABLE
                self.used_frames[i] += k
                self.unmovable_frames[i] = k

    @property
    def nr_nodes(self) -> int:
        return len(self.node_nr_frames)

    def node_phys_range(self, node: int) -> tuple[int, int]:
        """Physical byte range ``[start, end)`` of ``node``."""
        self._check_node(node, "node")
        return (int(self.node_start_frame[node]) * self.page_size,
                int(self.node_start_frame[node + 1]) * self.page_size)

    def node_of_frames(self, frames: object) -> np.ndarray:
        """Node id (int64) of each frame."""
        f = np.asarray(frames, dtype=np.int64)
        if f.size and (int(f.min()) < 0 or int(f.max()) >= self.nr_frames):
            raise ValueError(f"frames: out of range 0..{self.nr_frames - 1}")
        return np.searchsorted(self.node_start_frame, f, side="right") - 1

    def used_bytes(self) -> np.ndarray:
        """Allocated bytes per node (int64)."""
        return self.used_frames * self.page_size

    def free_bytes(self) -> np.ndarray:
        """Free bytes per node (int64)."""
        return self.free_frames * self.page_size

    def _check_node(self, node: int, what: str) -> int:
        if not isinstance(node, (int, np.integer)) or not 0 <= node < self.nr_nodes:
            raise ValueError(f"{what}: {node!r} is not a node id (allowed: 0..{self.nr_nodes - 1})")
        return int(node)

    # ------------------------------------------------------------------ processes
    def add_process(self, pid: int, vmas: Sequence[tuple[int, int]]) -> int:
        """Map a new process with VMAs ``[(start, end), ...]`` (bytes); returns its index.
        Starts must be page-aligned, VMAs sorted and disjoint; unaligned ends are rounded up."""
        if any(p.alive and p.pid == pid for p in self.procs):
            raise ValueError(f"pid: {pid} is already a live process")
        self.procs.append(ProcessMemory(pid, vmas, self.page_size))
        self._log.new_epoch()
        return len(self.procs) - 1

    def remove_process(self, idx: int) -> None:
        """The process exits: all its frames are freed; it stays in ``procs`` with alive=False."""
        proc = self._proc(idx)
        if not proc.alive:
            return
        self._free_pages_of(idx, np.flatnonzero(proc.vpage_frame >= 0))
        proc.alive = False
        proc.version += 1
        self._log.new_epoch()

    def free_pages(self, idx: int, pages: object) -> int:
        """Unmap pages (munmap/MADV_DONTNEED): their frames are freed; returns how many were
        mapped."""
        proc = self._proc(idx)
        p = _unique_in_order(proc.check_pages(pages))
        n = self._free_pages_of(idx, p[proc.vpage_frame[p] >= 0])
        if n:
            proc.version += 1
        return n

    def _free_pages_of(self, idx: int, pages: np.ndarray) -> int:
        proc = self.procs[idx]
        frames = proc.vpage_frame[pages]
        proc.vpage_frame[pages] = -1
        proc.vpage_node[pages] = -1
        self._release(frames)
        self._log.append(frames)
        if len(frames):
            self.placement_version += 1
        return len(frames)

    def _release(self, frames: np.ndarray) -> np.ndarray:
        """Give owned frames back to their nodes' free stacks; returns frames per node."""
        self.frame_proc[frames] = -1
        self.frame_vpage[frames] = -1
        nodes = self.frame_node[frames]
        counts = np.bincount(nodes, minlength=self.nr_nodes).astype(np.int64)
        for node in np.flatnonzero(counts):
            self._free.push(int(node), frames[nodes == node])
        self.used_frames -= counts
        return counts

    def _proc(self, idx: int) -> ProcessMemory:
        if not isinstance(idx, (int, np.integer)) or not 0 <= idx < len(self.procs):
            raise ValueError(f"proc_idx: {idx!r} is not a process index "
                             f"(allowed: 0..{len(self.procs) - 1})")
        return self.procs[int(idx)]

    def page_addresses(self, idx: int, pages: object) -> np.ndarray:
        """Virtual address of each page of process ``idx``."""
        return self._proc(idx).page_addresses(pages)

    def pages_of_range(self, idx: int, start: int, end: int) -> np.ndarray:
        """Pages of process ``idx`` overlapping the virtual range ``[start, end)``."""
        return self._proc(idx).pages_of_range(start, end)

    def interleave_index(self, idx: int, pages: object) -> np.ndarray:
        """Interleave index of each page as anonymous memory (``vm_pgoff = vm_start >> 12``,
        folio order from ``page_size``): the virtual page number for 4 KiB pages."""
        proc = self._proc(idx)
        p = proc.check_pages(pages)
        j = proc.vma_of_pages(p)
        vm_start = proc.vma_start[j]
        addr = vm_start + (p - proc.vma_page_base[j]) * self.page_size
        return interleave_index(vm_start, vm_start >> 12, addr, self.page_order)

    def node_of_pages(self, idx: int, pages: object) -> np.ndarray:
        """Node of each page of process ``idx`` (int64, -1 = not allocated)."""
        proc = self._proc(idx)
        return proc.vpage_node[proc.check_pages(pages)].astype(np.int64)

    # ------------------------------------------------------------------ access rates
    def set_rates(self, idx: int, rates: object) -> None:
        """Set the access rate (accesses/s) of every page of process ``idx``."""
        proc = self._proc(idx)
        r = np.asarray(rates, dtype=np.float64)
        if r.shape != (proc.nr_pages,):
            raise ValueError(f"rates: shape {r.shape} for pid {proc.pid}; need ({proc.nr_pages},)")
        if not np.isfinite(r).all() or (r < 0).any():
            raise ValueError("rates: every rate must be finite and >= 0 accesses/s")
        proc.vpage_rate = r.copy()
        proc.version += 1
        self._log.new_epoch()

    def frame_access_probabilities(self, tau_us: int) -> np.ndarray:
        """``access_probability`` of every frame's page (0 for free frames), read-only: kept
        until the next frame change, so every paddr context of the machine that rebuilds its
        per-frame state at the same point shares one computation."""
        key = (self.change_cursor(), tau_us)
        if self._frame_p is None or self._frame_p[0] != key:
            p = access_probability(self.frame_rates(), tau_us)
            p.flags.writeable = False
            self._frame_p = (key, p)
        return self._frame_p[1]

    def frame_rates(self) -> np.ndarray:
        """Access rate of the page each frame holds (float64 per frame; 0 for free frames)."""
        out = np.zeros(self.nr_frames, dtype=np.float64)
        for proc in self.procs:
            if proc.alive:
                m = proc.vpage_frame >= 0
                out[proc.vpage_frame[m]] = proc.vpage_rate[m]
        return out

    def node_rate_sums(self) -> np.ndarray:
        """Sum of access rates of the allocated pages on each node (float64, accesses/s)."""
        # placement changes bump placement_version, rate changes replace vpage_rate
        key = (self.placement_version, [(id(p.vpage_rate), p.version, p.alive) for p in self.procs])
        if self._rate_sums is not None and self._rate_sums[0] == key:
            return self._rate_sums[1].copy()
        out = np.zeros(self.nr_nodes, dtype=np.float64)
        for i, proc in enumerate(self.procs):
            if not proc.alive:
                continue
            # only the pages from the first to the last allocated one: the others add 0.0 to
            # every sum (a no-op on sums >= 0), and a process may leave much of its address
            # space untouched (on Tiering-v0 the span averages ~3/4 of the pages). Allocation
            # and freeing bump the version, migration keeps pages allocated: the span holds.
            span = self._rate_spans.get(i)
            if span is None or span[0] != proc.version:
                alloc = np.flatnonzero(proc.vpage_node >= 0)
                lo, hi = (int(alloc[0]), int(alloc[-1]) + 1) if len(alloc) else (0, 0)
                span = self._rate_spans[i] = (proc.version, lo, hi)
            _, lo, hi = span
            # the same sums, in the same order, as a bincount over the pages
            out += node_rate_sums_of(proc.vpage_node[lo:hi], proc.vpage_rate[lo:hi],
                                     self.nr_nodes)
        self._rate_sums = (key, out.copy())
        return out

    # ------------------------------------------------------------------ allocation
    def allocate(self, idx: int, pages: object, policy: MemPolicy | None = None) -> AllocResult:
        """First touch of ``pages`` of process ``idx`` under ``policy`` (default
        ``LocalPolicy()``), in the order given. Pages with a frame already are skipped; a page
        whose chosen node is full falls back along that node's fallback order; it fails only
        when every node is full."""
        policy = LocalPolicy() if policy is None else policy
        proc = self._proc(idx)
        if not proc.alive:
            raise ValueError(f"proc_idx: {idx} (pid {proc.pid}) has exited")
        policy_nodes(policy, self.nr_nodes, self.topology.cpu_node)
        p = _unique_in_order(proc.check_pages(pages))
        new = p[proc.vpage_frame[p] < 0]
        if isinstance(policy, LocalPolicy):
            ilx = np.zeros(len(new), dtype=np.int64)
        else:
            ilx = self.interleave_index(idx, new)
        pref = preferred_nodes(policy, ilx, self.nr_nodes, self.topology.cpu_node)
        target = plan_spill(pref, self.free_frames, self._fallback)
        per_node = np.zeros(self.nr_nodes, dtype=np.int64)
        touched = []
        for node in range(self.nr_nodes):
            sel = new[target == node]
            if len(sel) == 0:
                continue
            frames = self._free.pop(node, len(sel))
            proc.vpage_frame[sel] = frames
            proc.vpage_node[sel] = node
            self.frame_proc[frames] = idx
            self.frame_vpage[frames] = sel
            per_node[node] = len(sel)
            touched.append(frames)
        self.used_frames += per_node
        nr_alloc = int(per_node.sum())
        if nr_alloc:
            proc.version += 1
            self.placement_version += 1
            self._log.append(np.concatenate(touched))
        return AllocResult(nr_alloc, int(np.count_nonzero(target < 0)), per_node,
                           len(p) - len(new))

    # ------------------------------------------------------------------ migration
    def migrate_pages(self, idx: int, pages: object, dest_node: int,
                      now_us: int) -> MigrationResult:
        """Move pages of process ``idx`` to ``dest_node`` (DAMON vaddr style), in the order
        given; never-touched pages are counted in ``nr_not_present``."""
        proc = self._proc(idx)
        p = _unique_in_order(proc.check_pages(pages))
        frames = proc.vpage_frame[p]
        present = frames >= 0
        return self._migrate(frames[present], dest_node, now_us,
                             nr_not_present=int(len(p) - present.sum()), proc_idx=int(idx))

    def migrate_page_groups(self, idx: int, pages: np.ndarray, offs: np.ndarray,
                            now_us: int) -> list[MigrationResult | None]:
        """``migrate_pages(idx, pages[offs[g]:offs[g + 1]], g, now_us)`` for every node ``g``
        in order (None for an empty group), in one numba call when every group is ascending."""
        return migrate_page_groups_of(self, idx, pages, offs, now_us)

    def migrate_frames(self, frames: object, dest_node: int, now_us: int) -> MigrationResult:
        """Move the pages held by ``frames`` to ``dest_node`` (DAMON paddr style), in the order
        given; free frames are ignored (counted in ``nr_not_present``)."""
        f = np.asarray(frames, dtype=np.int64).reshape(-1)
        if f.size and (int(f.min()) < 0 or int(f.max()) >= self.nr_frames):
            raise ValueError(f"frames: out of range 0..{self.nr_frames - 1}")
        f = _unique_in_order(f)
        owned = self.frame_proc[f] >= 0
        return self._migrate(f[owned], dest_node, now_us,
                             nr_not_present=int(len(f) - owned.sum()))

    def _migrate(self, frames: np.ndarray, dest_node: int, now_us: int,
                 nr_not_present: int, proc_idx: int | None = None) -> MigrationResult:
        dest = self._check_node(dest_node, "dest_node")
        if now_us < 0:
            raise ValueError(f"now_us: {now_us} is negative")
        return migrate_frames_of(self, frames, dest, now_us, nr_not_present, proc_idx)

    @property
    def churn(self) -> np.ndarray:
        """Bytes migrated src -> dst (nodes x nodes int64) since the last :meth:`take_churn`."""
        return self._mig.churn

    @property
    def pingpong_bytes(self) -> int:
        """Ping-pong bytes since the last :meth:`take_churn`."""
        return self._mig.pingpong_bytes

    @property
    def migration_failures(self) -> int:
        """Folios that found their destination full since the last :meth:`take_churn`."""
        return self._mig.failures

    @property
    def total_moved_bytes(self) -> int:
        """Bytes migrated since the machine was built."""
        return self._mig.total_moved_bytes

    @property
    def total_churn(self) -> np.ndarray:
        """Bytes migrated src -> dst (nodes x nodes) since the machine was built (never reset,
        unlike :attr:`churn`; ``total_churn.sum() == total_moved_bytes``)."""
        return self._mig.total_churn

    @property
    def total_pingpong_bytes(self) -> int:
        """Ping-pong bytes since the machine was built."""
        return self._mig.total_pingpong_bytes

    def take_churn(self, byte_scale: float = 1.0) -> dict[str, Any]:
        """Migration traffic since the last call, then reset; with ``byte_scale`` in the real
        machine's bytes (see ``MigrationCounters.take``)."""
        return self._mig.take(byte_scale)

    # ------------------------------------------------------------------ change log
    def change_cursor(self) -> tuple[int, int]:
        """A cursor for :meth:`frame_changes_since` that sees only future changes."""
        return self._log.cursor()

    def frame_changes_since(self, cursor: tuple[int, int] | None
                            ) -> tuple[np.ndarray | None, tuple[int, int]]:
        """Frames whose owner changed since ``cursor`` (sorted, distinct) and the new cursor;
        ``None`` instead of frames when the consumer must rebuild everything (first call with
        ``cursor=None``, rates changed, a process came or went, or the log overflowed)."""
        return self._log.since(cursor)

    # ------------------------------------------------------------------ checks
    def check_invariants(self) -> None:
        """Raise AssertionError if frame/page bookkeeping is inconsistent (for tests; the
        checks are ``memory.invariants``)."""
        check_invariants(self)
