"""Results and accounting of page migration (what DAMOS migrate_hot/migrate_cold do through
``damon_migrate_pages``).

The performance model (shared/perf_model.md section 2.7) charges each moved folio of S bytes
as S bytes read on the source node and S bytes written on the destination within the step,
plus CPU time ``t_fix + S / B_copy`` per folio, so the churn record keeps both the bytes per
(source, destination) and the number of folios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Default window within which a move back to the previous node counts as ping-pong.
DEFAULT_PINGPONG_WINDOW_US = 10_000_000


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

    def record(self, src: np.ndarray, dest: int, pingpong_bytes: int, nr_failed: int) -> None:
        moved = np.bincount(src, minlength=self.nr_nodes).astype(np.int64) * self.page_size
        self.churn[:, dest] += moved
        self.pingpong_bytes += pingpong_bytes
        self.failures += nr_failed
        self.nr_folios += len(src)
        self.total_moved_bytes += int(moved.sum())
        self.total_pingpong_bytes += pingpong_bytes

    def take(self) -> dict[str, Any]:
        """Snapshot and reset. Keys: ``churn`` (nodes x nodes bytes src->dst), ``read_bytes`` and
        ``write_bytes`` per node (bytes migrated out of / into it), ``moved_bytes``,
        ``pingpong_bytes``, ``failures`` (folios that found the destination full),
        ``nr_folios`` (folios moved) and ``folio_bytes`` (bytes per folio)."""
        churn = self.churn.copy()
        snap = {
            "churn": churn,
            "read_bytes": churn.sum(axis=1),
            "write_bytes": churn.sum(axis=0),
            "moved_bytes": int(churn.sum()),
            "pingpong_bytes": self.pingpong_bytes,
            "failures": self.failures,
            "nr_folios": self.nr_folios,
            "folio_bytes": self.page_size,
        }
        self.churn[:] = 0
        self.pingpong_bytes = 0
        self.failures = 0
        self.nr_folios = 0
        return snap
