"""Physical-frame bookkeeping helpers: per-node free lists and the frame change log.

* :class:`FreeFrameStacks` is the buddy allocator's free list reduced to what the simulator
  needs: one LIFO stack per node, initially ordered so that the lowest addresses come first,
  and reusing the most recently freed frames afterwards (hot in cache, as the kernel's per-CPU
  lists do).
* :class:`FrameChangeLog` lets several consumers (e.g. paddr monitors that keep prefix sums over
  frames) learn which frames changed owner since they last looked, with opaque cursors.
"""

from __future__ import annotations

import bisect

import numpy as np


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
        self._chunks: list[np.ndarray] = []
        self._ends: list[int] = []  # cumulative length after each chunk
        self.length = 0

    def new_epoch(self) -> None:
        self.epoch += 1
        self._chunks.clear()
        self._ends.clear()
        self.length = 0

    def append(self, frames: np.ndarray) -> None:
        if len(frames) == 0:
            return
        if self.length + len(frames) > self.limit:
            self.new_epoch()
            return
        self._chunks.append(np.asarray(frames, dtype=np.int64).copy())
        self.length += len(frames)
        self._ends.append(self.length)

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
        i = bisect.bisect_right(self._ends, pos)
        start_of_i = self._ends[i - 1] if i else 0
        parts = [self._chunks[i][pos - start_of_i:], *self._chunks[i + 1:]]
        return np.unique(np.concatenate(parts)), new
