"""Jobs: what a daily run or a backfill materialises."""

from __future__ import annotations

import dagster as dg

LOYALTY_DAILY_JOB = "loyalty_daily"
# config/dagster.yaml lets one queued run with this tag run at a time (UI and schedule runs).
RESTATES_PARTITIONS_TAG = "loyalty/restates_partitions"


def loyalty_daily_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """Extract every enabled source table, build the dbt models and run their checks for a partition range."""
    return dg.define_asset_job(
        LOYALTY_DAILY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        tags={RESTATES_PARTITIONS_TAG: "true"},
    )
