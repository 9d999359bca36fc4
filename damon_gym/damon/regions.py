"""A target's regions as a struct of arrays (the hot-path form of ``damon_region`` lists).

Fields are int64 numpy arrays with a capacity and a count ``n``: ``start``, ``end``
(exclusive), ``nr_accesses``, ``last_nr_accesses``, ``nr_accesses_bp`` ([B] pseudo moving
sum) and ``age``. ``damon_gym.damon.region.Region`` is the per-region view for tests and users.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from damon_gym.damon.region import Region

FIELDS = ("start", "end", "nr_accesses", "last_nr_accesses", "nr_accesses_bp", "age")


class RegionArrays:
    """Regions of one monitoring target, in address order."""

    __slots__ = ("_data", "n")

    def __init__(self, capacity: int = 64) -> None:
        self._data = np.zeros((6, max(capacity, 8)), dtype=np.int64)
        self.n = 0

    # -- views -----------------------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        return self._data[0, : self.n]

    @property
    def end(self) -> np.ndarray:
        return self._data[1, : self.n]

    @property
    def nr_accesses(self) -> np.ndarray:
        return self._data[2, : self.n]

    @property
    def last_nr_accesses(self) -> np.ndarray:
        return self._data[3, : self.n]

    @property
    def nr_accesses_bp(self) -> np.ndarray:
        return self._data[4, : self.n]

    @property
    def age(self) -> np.ndarray:
        return self._data[5, : self.n]

    @property
    def raw(self) -> np.ndarray:
        """The (6, capacity) backing array; rows are FIELDS. Valid columns: [0, n)."""
        return self._data

    def sizes(self) -> np.ndarray:
        return self.end - self.start

    def total_bytes(self) -> int:
        return int((self.end - self.start).sum())

    def __len__(self) -> int:
        return self.n

    # -- mutation --------------------------------------------------------------------------
    def reserve(self, capacity: int) -> None:
        if capacity > self._data.shape[1]:
            new = np.zeros((6, max(capacity, 2 * self._data.shape[1])), dtype=np.int64)
            new[:, : self.n] = self._data[:, : self.n]
            self._data = new

    def set_from(self, data: np.ndarray, n: int) -> None:
        """Replace the content with the first ``n`` columns of a (6, >=n) array."""
        self.reserve(n)
        self._data[:, :n] = data[:, :n]
        self.n = n

    def set_ranges(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fresh regions (all counters 0) for sorted, non-overlapping ranges."""
        rs = list(ranges)
        self.reserve(len(rs))
        self._data[:, : len(rs)] = 0
        for i, (s, e) in enumerate(rs):
            self._data[0, i] = s
            self._data[1, i] = e
        self.n = len(rs)

    def split(self, i: int, sz: int) -> None:
        """damon_split_region_at(): region i becomes [start, start+sz) and a copy of its
        counters covers [start+sz, end) as region i+1."""
        if not 0 < sz < self._data[1, i] - self._data[0, i]:
            raise ValueError(f"split size {sz} outside (0, region size)")
        self.reserve(self.n + 1)
        d = self._data
        d[:, i + 1: self.n + 1] = d[:, i: self.n].copy()
        d[1, i] = d[0, i] + sz
        d[0, i + 1] = d[1, i]
        self.n += 1

    def split_at_addresses(self, points) -> None:
        """Split every region that strictly contains one of ``points``."""
        for a in points:
            if self.n == 0:
                return
            i = int(np.searchsorted(self.start, a, side="right")) - 1
            if i >= 0 and self._data[0, i] < a < self._data[1, i]:
                self.split(i, int(a - self._data[0, i]))

    def copy(self) -> RegionArrays:
        other = RegionArrays(self.n)
        other.set_from(self._data, self.n)
        return other

    # -- conversion to the per-region view --------------------------------------------------
    def to_regions(self) -> list[Region]:
        d = self._data
        return [
            Region(int(d[0, i]), int(d[1, i]), nr_accesses=int(d[2, i]), age=int(d[5, i]),
                   last_nr_accesses=int(d[3, i]), nr_accesses_bp=int(d[4, i]))
            for i in range(self.n)
        ]

    @classmethod
    def from_regions(cls, regions: Iterable[Region]) -> RegionArrays:
        rs = list(regions)
        ra = cls(len(rs))
        for i, r in enumerate(rs):
            ra._data[:, i] = (r.start, r.end, r.nr_accesses, r.last_nr_accesses,
                              r.nr_accesses_bp, r.age)
        ra.n = len(rs)
        return ra

    def assign_regions(self, regions: Iterable[Region]) -> None:
        other = RegionArrays.from_regions(regions)
        self.set_from(other._data, other.n)
