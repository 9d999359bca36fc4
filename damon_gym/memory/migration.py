"""Results and accounting of page migration (what DAMOS migrate_hot/migrate_cold do through
``damon_migrate_pages``).

The performance model [PM 2.7] charges each moved folio of S bytes
as S bytes read on the source node and S bytes written on the destination within the step,
plus CPU time ``t_fix + S / B_copy`` per folio, so the churn record keeps both the bytes per
(source, destination) and the number of folios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from damon_gym.memory.frames import migrate_one_process, migrate_page_groups

#: Default window within which a move back to the previous node counts as ping-pong.
DEFAULT_PINGPONG_WINDOW_US = 10_000_000
# np.array(..., dtype=np.int64) converts the scalar type to a dtype on every call (a third of
# the call on a node-sized list, at every step's take)
_INT64 = np.dtype(np.int64)


@dataclass(frozen=True)
class MigrationResult:
    """Outcome of one migration request to ``dest_node``.

    ``nr_moved`` folios (``bytes_moved`` bytes) changed node; ``nr_failed_capacity`` could not
    move because the destination had no free frame (DAMOS migration asks for the destination
    node, so there is no fallback); ``nr_already_there`` were on the destination already (the
    kernel skips them; they do not count in ``sz_applied``); ``nr_not_present`` were not
    mapped (never-touched pages, free frames). ``bytes_by_src`` is per source node.
    ``pingpong_bytes`` are bytes that went back to the node they had left less than the
    ping-pong window ago.
    """

    nr_moved: int
    bytes_moved: int
    nr_failed_capacity: int
    nr_already_there: int
    bytes_by_src: np.ndarray
    pingpong_bytes: int
    nr_not_present: int = 0

    @property
    def sz_applied(self) -> int:
        """DAMOS ``sz_applied`` of the request: bytes successfully migrated."""
        return self.bytes_moved


class MigrationCounters:
    """Migration traffic accumulated since the last :meth:`take` (one simulation step)."""

    def __init__(self, nr_nodes: int, page_size: int) -> None:
        self.nr_nodes = nr_nodes
        self.page_size = page_size
        self.churn = np.zeros((nr_nodes, nr_nodes), dtype=np.int64)
        self.pingpong_bytes = 0
        self.failures = 0
        self.nr_folios = 0
        # totals since the machine was built (never reset)
        self.total_moved_bytes = 0
        self.total_pingpong_bytes = 0
        # the churn matrix of the steps already taken (``take`` folds ``churn`` in before it
        # resets it; ``total_churn`` adds the current step's)
        self._taken_churn = np.zeros((nr_nodes, nr_nodes), dtype=np.int64)

    def record(self, src: np.ndarray, dest: int, pingpong_bytes: int, nr_failed: int) -> None:
        self.record_counts(np.bincount(src, minlength=self.nr_nodes), dest, pingpong_bytes,
                           nr_failed)

    def record_counts(self, by_src: np.ndarray, dest: int, pingpong_bytes: int,
                      nr_failed: int) -> None:
        """``record`` with the folios moved per source node already counted."""
        moved = np.asarray(by_src, dtype=np.int64) * self.page_size
        self.churn[:, dest] += moved
        self.pingpong_bytes += pingpong_bytes
        self.failures += nr_failed
        self.nr_folios += int(np.sum(by_src))
        self.total_moved_bytes += int(moved.sum())
        self.total_pingpong_bytes += pingpong_bytes

    def add(self, nr_folios: int, pingpong_bytes: int, nr_failed: int) -> None:
        """``record_counts`` for a move whose churn matrix entries were already added."""
        self.pingpong_bytes += pingpong_bytes
        self.failures += nr_failed
        self.nr_folios += nr_folios
        self.total_moved_bytes += nr_folios * self.page_size
        self.total_pingpong_bytes += pingpong_bytes

    @property
    def total_churn(self) -> np.ndarray:
        """Bytes migrated src -> dst (nodes x nodes int64) since the machine was built, never
        reset: a reader differences it between two times without disturbing :meth:`take`."""
        return self._taken_churn + self.churn

    def take(self, byte_scale: float = 1.0) -> dict[str, Any]:
        """Snapshot and reset. Keys: ``churn`` (nodes x nodes bytes src->dst), ``read_bytes`` and
        ``write_bytes`` per node (bytes migrated out of / into it), ``moved_bytes``,
        ``pingpong_bytes``, ``failures`` (folios that found the destination full),
        ``nr_folios`` (folios moved) and ``folio_bytes`` (bytes per folio). With
        ``byte_scale`` (real bytes per simulated byte, the scale rule) every byte count and the
        folio count are the real machine's (each matrix entry rounded, the sums of the rounded
        entries); failures stay counts of simulated folios."""
        k = float(byte_scale)
        # per step on a nodes x nodes matrix: plain Python (round() rounds half to even, as
        # np.round does, and the sums are of integers: exact in any order)
        raw = self.churn.tolist()
        moved = any(map(any, raw))  # a step that moved nothing has nothing to scale or fold
        rows = raw if k == 1.0 or not moved else [[round(x * k) for x in row] for row in raw]
        read = list(map(sum, rows))
        snap = {
            "churn": self.churn.copy() if k == 1.0
            else np.array(rows, dtype=_INT64).reshape(self.churn.shape),
            "read_bytes": np.array(read, dtype=_INT64),
            "write_bytes": np.array(list(map(sum, zip(*rows, strict=True))), dtype=_INT64),
            "moved_bytes": sum(read),
            "pingpong_bytes": self.pingpong_bytes if k == 1.0
            else int(round(self.pingpong_bytes * k)),
            "failures": self.failures,
            "nr_folios": self.nr_folios if k == 1.0 else int(round(self.nr_folios * k)),
            "folio_bytes": self.page_size,
        }
        if moved:
            self._taken_churn += self.churn
            self.churn.fill(0)
        self.pingpong_bytes = 0
        self.failures = 0
        self.nr_folios = 0
        return snap


def migrate_frames_of(mem: Any, frames: np.ndarray, dest: int, now_us: int,
                      nr_not_present: int, proc_idx: int | None = None) -> MigrationResult:
    """``MemorySystem._migrate``: in numba when every frame holds a page of one process
    (``proc_idx`` if the caller knows it), else in numpy; the same result either way."""
    if proc_idx is None and len(frames):
        owners = mem.frame_proc[frames]
        if owners.min() == owners.max():
            proc_idx = int(owners[0])
    if proc_idx is not None and mem.fast_migration:
        return migrate_one_process_of(mem, frames, dest, now_us, nr_not_present, proc_idx)
    return migrate_frames_numpy(mem, frames, dest, now_us, nr_not_present)


def migrate_frames_numpy(mem: Any, frames: np.ndarray, dest: int, now_us: int,
                         nr_not_present: int) -> MigrationResult:
    """``MemorySystem._migrate`` in numpy, for owned, distinct frames of any processes: frames
    already on ``dest`` are skipped, the first ones that fit take frames popped from ``dest``'s
    free stack, their old frames go back to their nodes' stacks."""
    src = mem.frame_node[frames].astype(np.int64)
    there = src == dest
    frames, src = frames[~there], src[~there]
    fit = min(len(frames), int(mem.free_frames[dest]))
    nr_failed = len(frames) - fit
    old, src = frames[:fit], src[:fit]
    procs = mem.frame_proc[old].astype(np.int64)
    pages = mem.frame_vpage[old]
    new = mem._free.pop(dest, fit)
    pingpong = 0
    for pi in np.flatnonzero(np.bincount(procs, minlength=len(mem.procs))):  # owners, ascending
        m = procs == pi
        proc, pg = mem.procs[int(pi)], pages[m]
        last = proc.vpage_last_move_us[pg]
        back = (proc.vpage_prev_node[pg] == dest) & (last >= 0) \
            & (now_us - last < mem.pingpong_window_us)
        pingpong += int(np.count_nonzero(back))
        proc.vpage_frame[pg] = new[m]
        proc.vpage_node[pg] = dest
        proc.vpage_prev_node[pg] = src[m]
        proc.vpage_last_move_us[pg] = now_us
    mem.frame_proc[new] = procs
    mem.frame_vpage[new] = pages
    mem._release(old)
    mem.used_frames[dest] += fit
    pingpong_bytes = pingpong * mem.page_size
    mem._mig.record(src, dest, pingpong_bytes, nr_failed)
    if fit:
        mem.placement_version += 1
        mem._log.append(np.concatenate((old, new)))
    by_src = np.bincount(src, minlength=mem.nr_nodes).astype(np.int64) * mem.page_size
    return MigrationResult(fit, fit * mem.page_size, nr_failed, int(there.sum()), by_src,
                           pingpong_bytes, nr_not_present)


def migrate_one_process_of(mem: Any, frames: np.ndarray, dest: int, now_us: int,
                           nr_not_present: int, proc_idx: int) -> MigrationResult:
    """``migrate_frames_numpy`` for frames that all hold pages of process ``proc_idx``, in
    numba (``frames.migrate_one_process``); the same result and state."""
    proc = mem.procs[proc_idx]
    fr = mem._free
    fit, there, pingpong, by_src, log = migrate_one_process(
        np.ascontiguousarray(frames, dtype=np.int64), dest, now_us, mem.pingpong_window_us,
        mem.frame_node, mem.frame_proc, mem.frame_vpage, fr.stack, fr.base, fr.count,
        proc.vpage_frame, proc.vpage_node, proc.vpage_prev_node, proc.vpage_last_move_us,
        mem.used_frames, mem._mig.churn, mem.page_size)
    return _book(mem, fit, there, pingpong, by_src * mem.page_size, log,
                 len(frames) - there - fit, nr_not_present)


def _book(mem: Any, fit: int, there: int, pingpong: int, bytes_by_src: np.ndarray,
          log: np.ndarray, nr_failed: int, nr_not_present: int) -> MigrationResult:
    """The rest of the accounting after a numba move of ``fit`` folios (which already updated
    ``used_frames`` and the churn matrix)."""
    ps = mem.page_size
    mem._mig.add(fit, pingpong * ps, nr_failed)
    if fit:
        mem.placement_version += 1
        mem._log.append(log)
    return MigrationResult(fit, fit * ps, nr_failed, there, bytes_by_src, pingpong * ps,
                           nr_not_present)


def migrate_page_groups_of(mem: Any, idx: int, pages: np.ndarray, offs: np.ndarray,
                           now_us: int) -> list[MigrationResult | None]:
    """``MemorySystem.migrate_page_groups``: one numba call for every destination group."""
    proc = mem._proc(idx)
    pages = np.ascontiguousarray(pages, dtype=np.int64)
    offs = np.ascontiguousarray(offs, dtype=np.int64)
    if now_us < 0:
        raise ValueError(f"now_us: {now_us} is negative")
    fr = mem._free
    if len(mem._buf) < 3 * len(pages):  # reused: fresh big arrays cost page faults
        mem._buf = np.empty(max(3 * len(pages), len(mem._buf) * 5 // 4), dtype=np.int64)
    status, res, log = (migrate_page_groups(
        pages, offs, int(idx), now_us, mem.pingpong_window_us, mem.frame_proc,
        mem.frame_vpage, fr.stack, fr.base, fr.count, proc.vpage_frame, proc.vpage_node,
        proc.vpage_prev_node, proc.vpage_last_move_us, mem.used_frames, mem._mig.churn,
        mem.page_size, mem._buf) if mem.fast_migration else (3, None, None))
    if status == 1 or len(offs) == 0:
        raise ValueError(f"offs: {offs.tolist()} is not a grouping of {len(pages)} pages over "
                         f"at most {mem.nr_nodes} nodes")
    if status == 2:
        proc.check_pages(pages)  # raises, naming the bad page
    bounds = offs.tolist()
    if status == 3:  # a group not ascending (or numba off): one migration per group
        return [mem.migrate_pages(idx, pages[a:b], g, now_us) if b > a else None
                for g, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
    assert res is not None and log is not None  # status 0: the numba call ran
    out: list[MigrationResult | None] = []
    bytes_by_src = res[:, 5:] * mem.page_size
    for g, (row, a, b) in enumerate(zip(res[:, :5].tolist(), bounds[:-1], bounds[1:],
                                         strict=True)):
        fit, there, pingpong, not_present, at = row
        out.append(None if a == b else _book(
            mem, fit, there, pingpong, bytes_by_src[g], log[at:at + 2 * fit],
            b - a - not_present - there - fit, not_present))
    return out


def book_page_groups(mem: Any, res: np.ndarray, log: np.ndarray, offs: np.ndarray) -> int:
    """The accounting ``migrate_page_groups_of`` does per group after its numba call
    (``_book``: counters, placement_version and the change log, group by group), without the
    per-group ``MigrationResult``; returns the folios moved."""
    bounds = offs.tolist()
    moved = pingpong = failed = 0
    for g, row in enumerate(res[:, :5].tolist()):
        a, b = bounds[g], bounds[g + 1]
        if a == b:
            continue
        fit, there, pp, not_present, at = row
        moved += fit
        pingpong += pp
        failed += b - a - not_present - there - fit
        if fit:
            mem.placement_version += 1
            mem._log.append(log[at:at + 2 * fit])
    # integer sums: one add for all groups gives what one add per group gives
    mem._mig.add(moved, pingpong * mem.page_size, failed)
    return moved
