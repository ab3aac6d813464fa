"""Jobs: what a daily run or a backfill materialises."""

from __future__ import annotations

import dagster as dg

LOYALTY_DAILY_JOB = "loyalty_daily"


def loyalty_daily_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """Extract every enabled source table, build the dbt models and run their checks for a partition range."""
    return dg.define_asset_job(
        LOYALTY_DAILY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
    )
