"""Raw data quality: validation batches of extracted partitions, and the quarantine of bad rows.

At extraction the suite's row-level rules (`meta.quarantine`) split each delivery: rows that
pass land in raw, rows that break a rule land in quarantine with the rules they broke. The
raw asset's check then validates the stored partitions with the suite's other rules (columns,
types, records older than the run restates), and reconciles extracted = raw + quarantined rows
for every partition.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loyalty_pipeline.contract import ContractTable
from loyalty_pipeline.partitions import utc_bounds
from loyalty_pipeline.quality.suites import EVENT_TIME_COLUMN, RESTATED_FROM_COLUMN, SuiteFile
from loyalty_pipeline.quality.validation import ExpectationFailure, validate_frame
from loyalty_pipeline.sources.raw_store import EXTRACTED_AT_COLUMN, EXTRACTED_ROWS_KEY, PARTITION_COLUMN

RULES_COLUMN = "_quarantine_rules"
# The bounds of a row's partition day, which the raw rules compare its timestamps against.
PARTITION_START_COLUMN = "_partition_start"
PARTITION_END_COLUMN = "_partition_end"
# Before the first partition there is no lower bound: it takes the source's older history.
HISTORY_START = pd.Timestamp("1900-01-01")


@dataclass(frozen=True)
class PartitionBounds:
    """A partition day and its bounds as naive UTC timestamps (the sources' form)."""

    day: dt.date
    start: pd.Timestamp
    end: pd.Timestamp


def partition_bounds(partitions_def: dg.TimeWindowPartitionsDefinition, day: dt.date) -> PartitionBounds:
    """A partition day's bounds as naive UTC; the very first partition also holds older history."""
    start, end = utc_bounds(partitions_def.time_window_for_partition_key(day.isoformat()))
    first = day.isoformat() == partitions_def.get_first_partition_key()
    return PartitionBounds(day=day, start=HISTORY_START if first else pd.Timestamp(start), end=pd.Timestamp(end))


def with_partition_columns(
    frame: pd.DataFrame, bounds: PartitionBounds, extracted_at: dt.datetime | None = None
) -> pd.DataFrame:
    """The columns raw rules compare against: partition day, its bounds, extraction time.

    A stored raw partition keeps the `_extracted_at` it was written with.
    """
    columns = {
        PARTITION_COLUMN: pd.Timestamp(bounds.day),
        PARTITION_START_COLUMN: bounds.start,
        PARTITION_END_COLUMN: bounds.end,
    }
    if extracted_at is not None:
        columns[EXTRACTED_AT_COLUMN] = pd.Timestamp(extracted_at)
    return frame.assign(**columns)


def restated_from(
    partitions_def: dg.TimeWindowPartitionsDefinition, first_day: dt.date, lookback_days: int
) -> pd.Timestamp:
    """Where the first day a run restates begins (naive UTC): its first partition minus the lookback.

    When that reaches back to the first partition, every day is restated: nothing is late.
    """
    day = first_day - dt.timedelta(days=lookback_days)
    if day.isoformat() <= partitions_def.get_first_partition_key():
        return HISTORY_START
    start, _ = utc_bounds(partitions_def.time_window_for_partition_key(day.isoformat()))
    return pd.Timestamp(start)


def with_event_columns(frame: pd.DataFrame, table: ContractTable, restated_start: pd.Timestamp) -> pd.DataFrame:
    """The columns the late-record rule compares: the record's event time and where the run restates from."""
    if not table.event_time:
        return frame
    event_time = frame[list(table.event_time)].bfill(axis=1).iloc[:, 0] if len(frame) else pd.NaT
    return frame.assign(**{EVENT_TIME_COLUMN: pd.to_datetime(event_time), RESTATED_FROM_COLUMN: restated_start})


@dataclass
class Split:
    """One partition's delivery split into the rows that land in raw and those quarantined."""

    clean: pd.DataFrame
    quarantined: pd.DataFrame


def split_deliveries(
    frames: Mapping[dt.date, pd.DataFrame],
    bounds: Mapping[dt.date, PartitionBounds],
    suite: SuiteFile,
    table: ContractTable,
    extracted_at: dt.datetime,
    *,
    docs_dir: Path,
    run_name: str,
    chunk_rows: int,
) -> tuple[dict[dt.date, Split], list[ExpectationFailure]]:
    """Apply the suite's row-level rules to every day of a delivery, in one GX validation."""
    days = sorted(frames)
    batch = pd.concat(
        [with_partition_columns(frames[day], bounds[day], extracted_at) for day in days], ignore_index=True
    )
    outcome = validate_frame(
        batch,
        suite,
        key_columns=table.primary_key,
        partition_column=PARTITION_COLUMN,
        chunk_rows=chunk_rows,
        docs_dir=docs_dir,
        run_name=run_name,
        expectations=suite.row_rules,
    )
    rules = _rules_by_row(len(batch), outcome.failures)
    broken = rules != ""
    # The batch holds the days in order, each a contiguous slice: a mask per day over the
    # whole batch would make a long backfill quadratic in its rows.
    ends = np.cumsum([len(frames[day]) for day in days])
    splits = {}
    for day, end in zip(days, ends, strict=True):
        start = end - len(frames[day])
        rows, bad = batch.iloc[start:end], broken[start:end]
        delivered = list(frames[day].columns)
        splits[day] = Split(
            clean=rows.loc[~bad, delivered].reset_index(drop=True),
            quarantined=rows.loc[bad, delivered].assign(**{RULES_COLUMN: rules[start:end][bad]}).reset_index(drop=True),
        )
    return splits, outcome.failures


def _rules_by_row(rows: int, failures: Iterable[ExpectationFailure]) -> np.ndarray:
    """For every row of the batch, the rules it broke joined by '; ' (empty when none)."""
    rules = np.full(rows, "", dtype=object)
    for failure in failures:
        label = f"{failure.rule} [{failure.expectation}({', '.join(failure.columns)})]"
        for position in failure.positions:
            rules[position] = label if not rules[position] else f"{rules[position]}; {label}"
    return rules


def write_quarantine(path: Path, frame: pd.DataFrame, day: dt.date, extracted_at: dt.datetime) -> int:
    """Replace a partition's quarantine file (removed when nothing was quarantined)."""
    if frame.empty:
        path.unlink(missing_ok=True)
        return 0
    stamped = frame.assign(_partition_date=pd.Timestamp(day), _extracted_at=pd.Timestamp(extracted_at))
    # Quarantined values may be anything; text keeps every one of them readable.
    table = pa.table({name: pa.array(stamped[name].astype("string"), from_pandas=True) for name in stamped.columns})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return table.num_rows


def parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def extracted_rows(path: Path) -> int | None:
    """The delivery's row count that extraction recorded in the raw file, if it is there."""
    if not path.exists():
        return None
    metadata = pq.ParquetFile(path).schema_arrow.metadata or {}
    value = metadata.get(EXTRACTED_ROWS_KEY)
    return int(value) if value is not None else None
