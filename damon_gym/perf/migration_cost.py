"""The CPU cost of migrating folios in kdamond [PM 2.7]: the one migration cost rule of the
simulator (the performance model charges it as CPU, DAMOS charges it to its quotas)."""

from __future__ import annotations

import math
from dataclasses import dataclass

KiB, MiB = 1 << 10, 1 << 20

__all__ = ["MigrationCost"]


@dataclass(frozen=True)
class MigrationCost:
    """CPU cost of migrating folios in kdamond [PM 2.7]: ``t_fix + S / B_copy`` per folio of
    ``S`` bytes. ``t_fix`` is 1 µs for 4 KiB and 20 µs for 2 MiB folios (log-log interpolation
    between), ``B_copy`` 7 GB/s per thread [U, between the 2019 and 2026 figures of S50/S51];
    with ``batched_tlb`` (default) ``t_fix`` is divided by 3.9 when the step moves at least 512
    folios (batched TLB flushing raised migrated pages/s by 291.7 % [C S52]; the model treats
    the whole step as one batch)."""

    t_fix_4k_us: float = 1.0
    t_fix_2m_us: float = 20.0
    copy_gbps: float = 7.0
    batched_tlb: bool = True
    tlb_divisor: float = 3.9
    tlb_batch: int = 512

    def t_fix_us(self, folio_bytes: int) -> float:
        """Fixed cost of one folio (µs) before TLB batching."""
        if folio_bytes == 4 * KiB:
            return self.t_fix_4k_us
        if folio_bytes == 2 * MiB:
            return self.t_fix_2m_us
        lo, hi = math.log(4 * KiB), math.log(2 * MiB)
        x = (math.log(max(int(folio_bytes), 1)) - lo) / (hi - lo)
        return math.exp(math.log(self.t_fix_4k_us)
                        + x * (math.log(self.t_fix_2m_us) - math.log(self.t_fix_4k_us)))

    def cpu_seconds(self, nr_folios: int, folio_bytes: int) -> float:
        """kdamond CPU seconds to migrate ``nr_folios`` folios of ``folio_bytes`` bytes."""
        if nr_folios <= 0:
            return 0.0
        t_fix = self.t_fix_us(folio_bytes) * 1e-6
        if self.batched_tlb and nr_folios >= self.tlb_batch:
            t_fix /= self.tlb_divisor
        return nr_folios * (t_fix + folio_bytes / (self.copy_gbps * 1e9))
