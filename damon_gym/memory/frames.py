"""Physical-frame bookkeeping helpers: per-node free lists and the frame change log.

* :class:`FreeFrameStacks` is the buddy allocator's free list reduced to what the simulator
  needs: one LIFO stack per node, initially ordered so that the lowest addresses come first,
  and reusing the most recently freed frames afterwards (hot in cache, as the kernel's per-CPU
  lists do).
* :func:`migrate_one_process` is the migration engine's inner loop in numba (frames of one
  process: the vaddr case and most paddr batches).
* :class:`FrameChangeLog` lets several consumers (e.g. paddr monitors that keep prefix sums over
  frames) learn which frames changed owner since they last looked, with opaque cursors.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FREE = -1  # frame_proc of a free frame
UNMOVABLE = -2  # frame_proc of a frame of unmovable (kernel) memory


class FreeFrameStacks:
    """One free-frame stack per node, all packed in one array.

    Node ``i``'s stack lives in ``stack[start_i : start_i + count_i]`` (top at the end), where
    ``start_i`` is the node's first frame, so the packed array never needs more than
    ``nr_frames`` entries. Pops and pushes are numpy slices, O(k) for k frames.
    """

    def __init__(self, node_start_frame: np.ndarray) -> None:
        self.base = np.asarray(node_start_frame[:-1], dtype=np.int64)
        self.size = np.diff(node_start_frame).astype(np.int64)
        nr = int(node_start_frame[-1])
        self.stack = np.empty(nr, dtype=np.int64)
        for i in range(len(self.base)):
            lo, hi = int(node_start_frame[i]), int(node_start_frame[i + 1])
            self.stack[lo:hi] = np.arange(hi - 1, lo - 1, -1, dtype=np.int64)  # lowest on top
        self.count = self.size.copy()

    def pop(self, node: int, k: int) -> np.ndarray:
        """Take ``k`` free frames of ``node`` (most recently pushed first)."""
        if k > self.count[node]:
            raise RuntimeError(f"node {node}: {k} frames wanted, {self.count[node]} free")
        top = int(self.base[node] + self.count[node])
        out = self.stack[top - k:top][::-1].copy()
        self.count[node] -= k
        return out

    def push(self, node: int, frames: np.ndarray) -> None:
        """Return frames of ``node`` to its stack."""
        k = len(frames)
        if self.count[node] + k > self.size[node]:
            raise RuntimeError(f"node {node}: free list overflow")
        top = int(self.base[node] + self.count[node])
        self.stack[top:top + k] = frames
        self.count[node] += k

    def free_frames_of(self, node: int) -> np.ndarray:
        """The frames on ``node``'s free stack (bottom to top)."""
        b = int(self.base[node])
        return self.stack[b:b + int(self.count[node])]


class FrameChangeLog:
    """Frames whose owner changed (allocation, freeing, migration) within the current epoch.

    A consumer holds a cursor ``(epoch, position)``. :meth:`since` returns the distinct frames
    logged after the cursor, or ``None`` when the epoch changed (the consumer must rebuild all
    its per-frame state). A new epoch starts on :meth:`new_epoch` (rate or process changes) and
    when the log would hold more than ``limit`` entries, keeping memory bounded.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(int(limit), 1)
        self.epoch = 0
        self._buf = np.empty(0, dtype=np.int64)  # entries [0, length) of the epoch, grown
        self.length = 0

    def new_epoch(self) -> None:
        self.epoch += 1
        self.length = 0

    def append(self, frames: np.ndarray) -> None:
        k = len(frames)
        if k == 0:
            return
        if self.length + k > self.limit:
            self.new_epoch()
            return
        end = self.length + k
        if end > len(self._buf):  # grow geometrically: no fresh array per append
            buf = np.empty(min(max(end, 2 * len(self._buf), 1024), self.limit), dtype=np.int64)
            buf[:self.length] = self._buf[:self.length]
            self._buf = buf
        self._buf[self.length:end] = frames
        self.length = end

    def cursor(self) -> tuple[int, int]:
        """A cursor that sees only changes made after now."""
        return (self.epoch, self.length)

    def since(self, cursor: tuple[int, int] | None) -> tuple[np.ndarray | None, tuple[int, int]]:
        """``(frames, new_cursor)``: sorted distinct frames changed after ``cursor``, or ``None``
        if ``cursor`` is ``None`` or from an older epoch."""
        new = self.cursor()
        if cursor is None or cursor[0] != self.epoch or cursor[1] > self.length:
            return None, new
        pos = cursor[1]
        if pos == self.length:
            return np.zeros(0, dtype=np.int64), new
        return sorted_unique(self._buf[pos:self.length]), new


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` of a 1-d integer array, by sorting: numpy 2's hash-based unique costs
    ~20 us per thousand integers, several times a sort, on the per-step frame lists."""
    if a.shape[0] < 2:
        return a.copy()
    s = np.sort(a)
    keep = np.empty(s.shape[0], dtype=np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


@njit(cache=True, error_model="numpy", inline="always")
def _move_page(pg, old, new, src, dest, proc, now_us, window_us, frame_proc, frame_vpage, stack,
               base, count, vpage_frame, vpage_node, vpage_prev_node, vpage_last_move, used,
               churn, page_size, by_src):
    """Move page ``pg`` from frame ``old`` (on ``src``) to the free frame ``new`` (on
    ``dest``, already taken from its stack by the caller): page table, frame ownership,
    counters, and ``old`` pushed back onto ``src``'s free stack (src != dest: pops and pushes
    touch different stacks, so doing both in one pass keeps the order of each). Returns 1 if
    the move is a ping-pong (back to the node the page left within ``window_us``), else 0."""
    last = vpage_last_move[pg]
    pp = 1 if vpage_prev_node[pg] == dest and last >= 0 and now_us - last < window_us else 0
    vpage_frame[pg] = new
    vpage_node[pg] = dest
    vpage_prev_node[pg] = src
    vpage_last_move[pg] = now_us
    frame_proc[new] = proc
    frame_vpage[new] = pg
    by_src[src] += 1
    used[src] -= 1
    churn[src, dest] += page_size
    frame_proc[old] = -1
    frame_vpage[old] = -1
    stack[base[src] + count[src]] = old
    count[src] += 1
    return pp


@njit(cache=True, error_model="numpy")
def _move(frames, k, dest, now_us, window_us, frame_node, frame_proc, frame_vpage, stack, base,
          count, vpage_frame, vpage_node, vpage_prev_node, vpage_last_move, used, churn,
          page_size, todo, by_src, log, log_at):
    """Move ``frames[:k]`` (distinct, one process) to ``dest``: frames already there are
    skipped; the first ``min(rest, free on dest)`` others take frames popped from ``dest``'s
    free stack (top first) and their old frames are pushed back onto their nodes' stacks in
    order. Adds the moves per source node to ``by_src``, keeps ``used`` (frames per node) and
    ``churn`` (bytes source -> destination) up to date, writes the old then the new frames to
    ``log[log_at:]``; returns (moved, already there, ping-pong pages)."""
    m = 0
    for j in range(k):
        if frame_node[frames[j]] != dest:
            todo[m] = frames[j]
            m += 1
    fit = min(m, count[dest])
    top = base[dest] + count[dest]
    pingpong = 0
    for j in range(fit):
        old = todo[j]
        pingpong += _move_page(frame_vpage[old], old, stack[top - 1 - j], frame_node[old], dest,
                               frame_proc[old], now_us, window_us, frame_proc, frame_vpage,
                               stack, base, count, vpage_frame, vpage_node, vpage_prev_node,
                               vpage_last_move, used, churn, page_size, by_src)
        log[log_at + j] = old
        log[log_at + fit + j] = stack[top - 1 - j]
    count[dest] -= fit
    used[dest] += fit
    return fit, k - m, pingpong


@njit(cache=True, error_model="numpy")
def migrate_one_process(frames, dest, now_us, window_us, frame_node, frame_proc, frame_vpage,
                        stack, base, count, vpage_frame, vpage_node, vpage_prev_node,
                        vpage_last_move, used, churn, page_size):
    """``MemorySystem._migrate`` for distinct frames that all hold pages of one process (see
    ``_move``). Returns (moved, already there, ping-pong pages, moved per source node, the log
    entries: old frames then new frames)."""
    k = frames.shape[0]
    by_src = np.zeros(base.shape[0], np.int64)
    log = np.empty(2 * k, np.int64)
    fit, there, pingpong = _move(frames, k, dest, now_us, window_us, frame_node, frame_proc,
                                 frame_vpage, stack, base, count, vpage_frame, vpage_node,
                                 vpage_prev_node, vpage_last_move, used, churn, page_size,
                                 np.empty(k, np.int64), by_src, log, 0)
    return fit, there, pingpong, by_src, log[:2 * fit]


@njit(cache=True, error_model="numpy")
def _move_pages(pages, a, b, dest, proc_idx, now_us, window_us, frame_proc, frame_vpage, stack,
                base, count, vpage_frame, vpage_node, vpage_prev_node, vpage_last_move, used,
                churn, page_size, todo, by_src, log, log_at):
    """``_move`` of the frames of ``pages[a:b]`` (distinct pages of process ``proc_idx``),
    read through the pages (``vpage_node`` is the frames' node, the frames' owner is the
    page): the same moves, without looking up the old frames. Returns (moved, already there,
    ping-pong pages, not present)."""
    m = 0
    there = 0
    for j in range(a, b):
        here = vpage_node[pages[j]]
        if here == dest:
            there += 1
        elif here >= 0:
            todo[m] = pages[j]
            m += 1
    fit = min(m, count[dest])
    top = base[dest] + count[dest]
    pingpong = 0
    for j in range(fit):
        pg = todo[j]
        old = vpage_frame[pg]
        pingpong += _move_page(pg, old, stack[top - 1 - j], vpage_node[pg], dest, proc_idx,
                               now_us, window_us, frame_proc, frame_vpage, stack, base, count,
                               vpage_frame, vpage_node, vpage_prev_node, vpage_last_move, used,
                               churn, page_size, by_src)
        log[log_at + j] = old
        log[log_at + fit + j] = stack[top - 1 - j]
    count[dest] -= fit
    used[dest] += fit
    return fit, there, pingpong, b - a - m - there


@njit(cache=True, error_model="numpy")
def migrate_page_groups(pages, offs, proc_idx, now_us, window_us, frame_proc, frame_vpage,
                        stack, base, count, vpage_frame, vpage_node, vpage_prev_node,
                        vpage_last_move, used, churn, page_size, buf):
    """``migrate_one_process`` for the pages of one process grouped by destination node:
    group ``g`` (``pages[offs[g]:offs[g + 1]]``, ascending) goes to node ``g``, groups in
    order, exactly as one migration per group would. Returns (status, per group: moved,
    already there, ping-pong, not present, log start, then moves per source node; the log, a
    view of ``buf`` when it holds >= 3 * len(pages) entries).
    Status 0: done; 1: ``offs`` is not a grouping of the pages over the nodes, 2: a page
    index is out of range (nothing done: errors); 3: a group is not strictly ascending
    (nothing done: the caller migrates group by group)."""
    groups = offs.shape[0] - 1
    nodes = base.shape[0]
    n = pages.shape[0]
    empty = np.zeros((0, 5 + nodes), np.int64)
    if groups < 0 or groups > nodes or offs[0] != 0 or offs[groups] != n:
        return 1, empty, empty[0]
    for g in range(groups):
        if offs[g + 1] < offs[g]:
            return 1, empty, empty[0]
    for j in range(n):
        if pages[j] < 0 or pages[j] >= vpage_frame.shape[0]:
            return 2, empty, empty[0]
    for g in range(groups):
        for j in range(offs[g] + 1, offs[g + 1]):
            if pages[j] <= pages[j - 1]:
                return 3, empty, empty[0]
    res = np.zeros((groups, 5 + nodes), np.int64)
    if buf.shape[0] < 3 * n:
        buf = np.empty(3 * n, np.int64)
    log, todo = buf[:2 * n], buf[2 * n:3 * n]
    at = 0
    for g in range(groups):
        res[g, 4] = at
        if offs[g + 1] == offs[g]:
            continue
        fit, there, pingpong, not_present = _move_pages(
            pages, offs[g], offs[g + 1], g, proc_idx, now_us, window_us, frame_proc,
            frame_vpage, stack, base, count, vpage_frame, vpage_node, vpage_prev_node,
            vpage_last_move, used, churn, page_size, todo, res[g, 5:], log, at)
        res[g, 0] = fit
        res[g, 1] = there
        res[g, 2] = pingpong
        res[g, 3] = not_present
        at += 2 * fit
    return 0, res, log


@njit(cache=True, error_model="numpy")
def node_rate_sums_of(vpage_node, vpage_rate, nr_nodes):
    """Per node, the sum of the rates of one process's allocated pages, in page order (what
    a bincount over the pages gives). Up to four nodes the sums live in registers: adding
    0.0 to the other nodes' sums leaves them unchanged (rates are >= 0), so every sum is
    still the same sequence of additions."""
    out = np.zeros(nr_nodes)
    if nr_nodes > 4:
        for pg in range(vpage_node.shape[0]):
            nd = vpage_node[pg]
            if nd >= 0:
                out[nd] += vpage_rate[pg]
        return out
    a0 = a1 = a2 = a3 = 0.0
    for pg in range(vpage_node.shape[0]):
        nd = vpage_node[pg]
        r = vpage_rate[pg]
        a0 += r if nd == 0 else 0.0
        a1 += r if nd == 1 else 0.0
        a2 += r if nd == 2 else 0.0
        a3 += r if nd == 3 else 0.0
    acc = (a0, a1, a2, a3)
    for i in range(nr_nodes):
        out[i] = acc[i]
    return out
