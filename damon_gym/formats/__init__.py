"""damo's own file formats: DAMON parameter documents (``damo args damon --format json``),
access records (``damon.data``) and heatmaps of records.

This layer imports only damon_gym.units and damon_gym.damon.attrs.
"""

from __future__ import annotations

from damon_gym.formats._fields import DamoFormatError
from damon_gym.formats.heatmap import (
    Heatmap,
    compute_heatmap,
    heatmap_grid,
    monitored_ranges,
    plot_heatmap,
)
from damon_gym.formats.params import (
    AccessPatternParams,
    ContextParams,
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
from damon_gym.formats.params_io import (
    dump_damon_params,
    dump_scheme,
    dump_schemes,
    load_damon_params,
    load_schemes,
    save_damon_params,
)
from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    RegionArrays,
    merge_records,
    read_record,
    write_record,
    wss_of_snapshot,
)

__all__ = [
    "DamoFormatError",
    "AccessPatternParams", "ContextParams", "DamonParams", "FilterParams", "IntervalsGoalParams",
    "IntervalsParams", "KdamondParams", "NrRegionsParams", "QuotaGoalParams", "QuotaParams",
    "QuotaWeights", "SampleControlParams", "SchemeParams", "TargetParams", "WatermarkParams",
    "dump_damon_params", "dump_scheme", "dump_schemes", "load_damon_params", "load_schemes",
    "save_damon_params",
    "DamonRecord", "RecordIntervals", "RecordSnapshot", "RegionArrays", "merge_records",
    "read_record", "wss_of_snapshot", "write_record",
    "Heatmap", "compute_heatmap", "heatmap_grid", "monitored_ranges", "plot_heatmap",
]
