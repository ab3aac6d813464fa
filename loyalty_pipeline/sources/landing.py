"""Landing-zone exports (web analytics, survey tool, back office): one file per table and day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import dagster as dg
import fsspec
import pandas as pd

from loyalty_pipeline.contract import ContractTable
from loyalty_pipeline.partitions import partition_days
from loyalty_pipeline.resources import LandingZone
from loyalty_pipeline.sources.conform import SourceContractError
from loyalty_pipeline.sources.extract import build_extract_asset

# The formats an export may take, in the order they are looked for.
FORMATS = ("parquet", "jsonl", "csv")


def _read_file(fs: fsspec.AbstractFileSystem, path: str, file_format: str) -> pd.DataFrame:
    with fs.open(path, "rb") as handle:
        if file_format == "parquet":
            return pd.read_parquet(handle)
        if file_format == "jsonl":
            # Read as text: the contract, not the JSON parser, decides the types.
            return pd.read_json(handle, lines=True, dtype=False, convert_dates=False)
        # Empty fields are nulls; everything else stays text until the contract casts it.
        return pd.read_csv(handle, dtype=str, keep_default_na=False, na_values=[""])


def read_landing_day(landing: LandingZone, table: ContractTable, day: dt.date) -> pd.DataFrame:
    """The export file of one table and day; a missing file is an error, not an empty day."""
    fs, base = fsspec.core.url_to_fs(landing.base_url)
    folder = f"{base.rstrip('/')}/{table.landing_path}"
    for file_format in FORMATS:
        path = f"{folder}/{day.isoformat()}.{file_format}"
        if fs.exists(path):
            return _read_file(fs, path, file_format)
    raise SourceContractError(
        table,
        day.isoformat(),
        "*",
        f"no export file {table.landing_path}/{day.isoformat()}.{{{','.join(FORMATS)}}} in the landing zone",
        [],
    )


def read_landing_days(
    landing: LandingZone, table: ContractTable, window: dg.TimeWindow, is_first: bool
) -> Mapping[dt.date, pd.DataFrame]:
    """Each day's export file of the window."""
    return {day: read_landing_day(landing, table, day) for day in partition_days(window)}


def landing_assets(tables: list[ContractTable], partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One extract asset per landing-zone table."""
    return [
        build_extract_asset(
            table,
            partitions_def,
            resource_key="landing_zone",
            read_days=read_landing_days,
            location=lambda landing, table=table: f"{landing.base_url.rstrip('/')}/{table.landing_path}/",
            kind="file",
        )
        for table in tables
    ]
