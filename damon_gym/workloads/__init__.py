"""Workloads: processes, VMAs and compact access-rate fields over time.

See model.py (the data model and ``Workload.rates_at``), fields.py (segment kinds and the rate
convention), layout.py (address-space layouts), generators.py (synthetic workloads and phase
schedules) and masim.py (masim config files).
"""

from __future__ import annotations

from damon_gym.workloads import generators
from damon_gym.workloads.masim import (
    MasimConfig,
    MasimConfigError,
    MasimPattern,
    MasimPhase,
    MasimRegion,
    format_masim_config,
    masim_workload,
    parse_masim_config,
    read_masim_config,
    tiering_test_config,
)
from damon_gym.workloads.model import (
    KINDS,
    MempolicySpec,
    Phase,
    ProcessSpec,
    RateSegment,
    VMASpec,
    Workload,
)

__all__ = [
    "KINDS", "MempolicySpec", "Phase", "ProcessSpec", "RateSegment", "VMASpec", "Workload",
    "generators", "MasimConfig", "MasimConfigError", "MasimPattern", "MasimPhase",
    "MasimRegion", "format_masim_config", "masim_workload", "parse_masim_config",
    "read_masim_config", "tiering_test_config",
]
