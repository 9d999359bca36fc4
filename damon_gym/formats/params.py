"""DAMON parameters in damo's JSON/YAML layout (``damo args damon --format json``): the typed
models (params_model.py) and their reading and writing (params_io.py) under one name.

Values keep the unit the field names: bytes, microseconds (``_us``), milliseconds (``_ms``),
permil, basis points. Every numeric field reads damo's human form ("5 ms", "200.000 MiB",
"0.1 %", "1,000", "max") as well as bare numbers in the key's unit.

Parameters the simulator cannot honour are refused with a message naming them: non-empty
``probes``, page-fault sampling or ``sample_filters``, ``addr_unit`` other than 1, more than one
context per kdamond (a kernel limit), unknown actions, goal metrics and filter types.

Entry points: :func:`load_damon_params`, :func:`load_schemes` (damo's ``--schemes`` list form),
:func:`dump_damon_params`, :func:`save_damon_params` (atomic), ``ContextParams.attrs()``.
The two modules below import each other in one direction only: params_io reads the models.
"""

from __future__ import annotations

from damon_gym.formats.params_io import (
    dump_damon_params,
    dump_scheme,
    dump_schemes,
    load_damon_params,
    load_schemes,
    save_damon_params,
)
from damon_gym.formats.params_model import (
    ACTIONS,
    FILTER_TYPES,
    GOAL_METRICS,
    AccessPatternParams,
    ContextParams,
    DamoFormatError,
    DamonParams,
    FilterParams,
    IntervalsGoalParams,
    IntervalsParams,
    KdamondParams,
    NrRegionsParams,
    QuotaGoalParams,
    QuotaParams,
    QuotaWeights,
    SampleControlParams,
    SchemeParams,
    TargetParams,
    WatermarkParams,
)

__all__ = [
    "ACTIONS", "GOAL_METRICS", "FILTER_TYPES", "DamoFormatError", "DamonParams", "KdamondParams",
    "ContextParams", "TargetParams", "IntervalsParams", "IntervalsGoalParams", "NrRegionsParams",
    "SampleControlParams", "SchemeParams", "AccessPatternParams", "QuotaParams", "QuotaGoalParams",
    "QuotaWeights", "WatermarkParams", "FilterParams", "load_damon_params", "load_schemes",
    "dump_damon_params", "dump_scheme", "dump_schemes", "save_damon_params",
]
