"""Where migrate_hot / migrate_cold send each folio [DS 3.5].

Three behaviours, selected per scheme:

* ``vaddr`` with ``dests`` (kernel, vaddr ops): the destination of a folio is chosen from its
  interleave index (VMA page offset, folio order included) by the mempolicy
  weighted-interleave rule with DAMON's own weights; zero-weight destinations are never chosen
  and a folio already on its destination stays. A folio has exactly one valid destination for
  a given weight set, so re-applying moves nothing.
* ``kernel`` paddr: ``target_nid`` only; ``dests`` are ignored (and target_nid -1 migrates
  nothing).
* ``rfc_round_robin`` paddr (opt-in): the RFC v2 patch "mm/damon/paddr: Allow interleaving in
  migrate_{hot,cold} actions" (B. Tabatabai, 2025-06-20) sent folios to the dests by weighted
  round robin, with no memory of where a folio should live, so every application moves pages
  again. It exists so users can measure the ping-pong the thread argued about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from damon_gym.memory.mempolicy import weighted_slots

PADDR_DEST_MODES = ("kernel", "rfc_round_robin")


def migrate_dest_index(ilx: int, weights) -> int | None:
    """Index into dests of the folio with interleave index ``ilx``; None when all weights are 0.

    damos_va_migrate_dests_add(): t = ilx % sum(weights), then the first i with t < w_i."""
    slot = int(weighted_slots([ilx], [int(w) for w in weights])[0])
    return None if slot < 0 else slot


def migrate_dest_indices(ilx: np.ndarray, weights) -> np.ndarray:
    """Vectorised migrate_dest_index (-1 where all weights are 0)."""
    return weighted_slots(ilx, weights).reshape(np.shape(ilx))


@dataclass
class RoundRobinState:
    """The RFC's per-scheme weighted round robin: each dest takes ``weight`` folios in a row,
    cycling; ``pos`` is where the previous application stopped inside one round."""

    pos: int = 0

    def assign(self, n: int, weights) -> np.ndarray:
        """Destination indices of the next ``n`` folios (-1 if all weights are 0)."""
        ws = np.asarray(weights, dtype=np.int64)
        if ws.sum() == 0:
            return np.full(n, -1, dtype=np.int64)
        cycle = np.repeat(np.arange(len(ws)), ws)
        seq = cycle[(self.pos + np.arange(n)) % cycle.shape[0]]
        self.pos = (self.pos + n) % cycle.shape[0]
        return seq
