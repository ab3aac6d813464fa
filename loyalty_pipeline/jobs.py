"""Jobs: what a daily run or a backfill materialises."""

from __future__ import annotations

import dagster as dg

from loyalty_pipeline.memory import RELEASE_HOOKS

LOYALTY_DAILY_JOB = "loyalty_daily"


def loyalty_daily_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """Extract every enabled source table, build the dbt models and run their checks for a partition range."""
    return dg.define_asset_job(
        LOYALTY_DAILY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        # The command runs all of a run's steps in its one process: give each step's freed memory back.
        hooks=set(RELEASE_HOOKS),
    )
