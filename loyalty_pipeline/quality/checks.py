"""One factory turns any expectation suite into a blocking Dagster asset check.

A check loads the batches of the run's partition range (raw Parquet partitions, or rows of
a warehouse table through the suite's SQL file), validates them with Great Expectations and
reports every failed expectation with what the on-call engineer needs: suite, expectation,
column, partitions, unexpected count, up to 20 sample keys and values, and the Data Docs page.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loyalty_pipeline.contract import ContractTable
from loyalty_pipeline.partitions import partition_days
from loyalty_pipeline.quality.raw import (
    PARTITION_END_COLUMN,
    PARTITION_START_COLUMN,
    PartitionBounds,
    extracted_rows,
    parquet_rows,
    partition_bounds,
    restated_from,
    with_event_columns,
)
from loyalty_pipeline.quality.suites import SuiteFile, load_suite, raw_suite_name, suite_path
from loyalty_pipeline.quality.validation import ExpectationFailure, ValidationOutcome, merge_outcomes, validate_frame
from loyalty_pipeline.resources import WAREHOUSE_POOL, DataQuality, RawStore, Warehouse
from loyalty_pipeline.sources.raw_store import PARTITION_COLUMN


@dataclass
class Batch:
    """A frame to validate against a suite, with the thresholds its expectations refer to."""

    frame: pd.DataFrame
    suite: SuiteFile
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckWindow:
    """The days a check judges: the run's partitions, and the lookback the run restated."""

    first: dt.date
    last: dt.date
    restated_from: dt.date

    @property
    def label(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first}..{self.last}"


BatchLoader = Callable[[dg.AssetCheckExecutionContext, CheckWindow], Iterator[Batch]]


def check_window(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> CheckWindow:
    days = partition_days(context.partition_time_window)
    start = dt.date.fromisoformat(warehouse.start_date)
    restated_from = max(start, days[0] - dt.timedelta(days=warehouse.lookback_days))
    return CheckWindow(first=days[0], last=days[-1], restated_from=restated_from)


def build_suite_check(
    *,
    asset_key: dg.AssetKey,
    suite: SuiteFile,
    partitions_def: dg.PartitionsDefinition,
    load_batches: BatchLoader,
    required_resource_keys: set[str],
    pool: str | None = None,
) -> dg.AssetChecksDefinition:
    """A blocking check of an asset against a suite; ERROR rules block, WARN rules only warn."""

    @dg.asset_check(
        asset=asset_key,
        name=suite.name,
        description=f"Great Expectations suite `{suite.path.parent.name}/{suite.path.name}`: "
        + suite.meta.get("description", ""),
        blocking=True,
        partitions_def=partitions_def,
        required_resource_keys={"data_quality", "warehouse", *required_resource_keys},
        pool=pool,
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        quality: DataQuality = context.resources.data_quality
        window = check_window(context, context.resources.warehouse)
        outcomes = []
        for batch in load_batches(context, window):
            outcomes.append(
                validate_frame(
                    batch.frame,
                    batch.suite,
                    parameters={**quality.parameters, **batch.parameters},
                    key_columns=batch.suite.meta.get("key_columns", ()),
                    partition_column=batch.suite.meta.get("partition_column"),
                    chunk_rows=quality.chunk_rows,
                    docs_dir=quality.docs_dir,
                    run_name=f"{context.run.run_id}-{suite.name}",
                )
            )
        return check_result(merge_outcomes(outcomes), suite, window)

    return _check


def check_result(outcomes: Sequence[ValidationOutcome], suite: SuiteFile, window: CheckWindow) -> dg.AssetCheckResult:
    """The Dagster result of the outcomes of one check: what failed, where, and how badly."""
    failures = [failure for outcome in outcomes for failure in outcome.failures]
    errors = [failure for failure in failures if failure.severity == "error"]
    metadata: dict[str, Any] = {
        "suite": suite.name,
        "suite_file": dg.MetadataValue.path(str(suite.path)),
        "partitions": window.label,
        "rows_validated": sum(outcome.rows for outcome in outcomes),
        "failed_expectations": len(failures),
    }
    docs = [outcome.docs_page for outcome in outcomes if outcome.docs_page]
    if docs:
        metadata["data_docs"] = dg.MetadataValue.path(docs[0])
    if failures:
        first = (errors or failures)[0]
        metadata.update(
            {
                "expectation": first.expectation,
                "column": ", ".join(first.columns),
                "rule": first.rule,
                "unexpected_count": first.unexpected_count,
                "failed_partitions": ", ".join(sorted(first.partitions)) or window.label,
                "samples": dg.MetadataValue.json(first.samples),
                "failures": dg.MetadataValue.json([_failure_json(failure) for failure in failures]),
                "summary": dg.MetadataValue.md(_summary_table(failures)),
            }
        )
    return dg.AssetCheckResult(
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description="; ".join(failure.describe() for failure in (errors or failures)[:3]) or None,
    )


def _failure_json(failure: ExpectationFailure) -> dict[str, Any]:
    return {
        "expectation": failure.expectation,
        "columns": failure.columns,
        "rule": failure.rule,
        "severity": failure.severity,
        "unexpected_count": failure.unexpected_count,
        "observed": failure.observed,
        "partitions": failure.partitions,
        "samples": failure.samples,
    }


def _summary_table(failures: Sequence[ExpectationFailure]) -> str:
    lines = ["| severity | expectation | column | rule | unexpected | partitions |", "|---|---|---|---|---|---|"]
    for failure in failures:
        partitions = ", ".join(sorted(failure.partitions)[:5]) + (" …" if len(failure.partitions) > 5 else "")
        count = failure.unexpected_count or f"observed {failure.observed}"
        lines.append(
            f"| {failure.severity} | {failure.expectation} | {', '.join(failure.columns)} | {failure.rule} "
            f"| {count} | {partitions} |"
        )
    return "\n".join(lines)


# --- raw tables ------------------------------------------------------------------------------


def raw_check(
    table: ContractTable, partitions_def: dg.TimeWindowPartitionsDefinition, expectations_dir: Path
) -> dg.AssetChecksDefinition:
    """The check of a raw table: its suite's table rules on the stored partitions, and their reconciliation."""
    suite = load_suite(suite_path(expectations_dir, "raw", raw_suite_name(table)))
    # Every stored row passed the row rules when extraction split its delivery, and a broken
    # row is in quarantine, which the reconciliation counts: judging stored rows again could
    # not fail, and cost most of the check (docs/performance.md). A row rule added later
    # applies to a partition when it is extracted again.
    stored_suite = suite.subset("stored", suite.stored_rules)
    partitions_suite = load_suite(suite_path(expectations_dir, "raw", "partitions"))

    def load(context: dg.AssetCheckExecutionContext, window: CheckWindow) -> Iterator[Batch]:
        raw_store: RawStore = context.resources.raw_store
        quality: DataQuality = context.resources.data_quality
        warehouse: Warehouse = context.resources.warehouse
        days = partition_days(context.partition_time_window)
        restated_start = restated_from(partitions_def, days[0], warehouse.lookback_days)
        summary = []
        chunk: list[tuple[Path, PartitionBounds]] = []
        chunk_rows = 0

        def batch(stored: list[tuple[Path, PartitionBounds]]) -> Batch:
            return Batch(with_event_columns(read_raw_partitions(stored, table), table, restated_start), stored_suite)

        for day in days:
            partition = day.isoformat()
            path = raw_store.partition_path(table.source, table.name, partition)
            quarantined = parquet_rows(quality.quarantine_path(table.source, table.name, partition))
            extracted = extracted_rows(path)
            stored_rows = parquet_rows(path)
            summary.append(
                {
                    "partition": partition,
                    "extracted_rows": extracted,
                    "landed_rows": stored_rows + quarantined,
                    "quarantined_share": quarantined / extracted if extracted else 0.0,
                }
            )
            if path.exists():
                chunk.append((path, partition_bounds(partitions_def, day)))
                chunk_rows += stored_rows
            if chunk_rows >= quality.chunk_rows:
                yield batch(chunk)
                chunk, chunk_rows = [], 0
        if chunk:
            yield batch(chunk)
        yield Batch(pd.DataFrame(summary).astype({"extracted_rows": "Int64"}), partitions_suite)

    return build_suite_check(
        asset_key=dg.AssetKey([table.source, table.name]),
        suite=suite,
        partitions_def=partitions_def,
        load_batches=load,
        required_resource_keys={"raw_store", "warehouse"},
    )


def read_raw_partitions(stored: Sequence[tuple[Path, PartitionBounds]], table: ContractTable) -> pd.DataFrame:
    """Stored raw partitions as extraction validated them: dates as timestamps, each row with
    its partition's day and bounds.

    One Arrow table per file, converted to pandas once: a frame per partition made a check
    over a long range spend most of its time on pandas overhead (docs/performance.md).
    """
    tables = [pq.read_table(path) for path, _ in stored]
    frame = pa.concat_tables(tables, promote_options="default").to_pandas().drop(columns=[PARTITION_COLUMN])
    for column in table.columns:
        if column.type == "date":
            frame[column.name] = pd.to_datetime(frame[column.name])
    # Each partition's values, repeated over its rows (the files are read in order).
    rows_of = np.repeat(np.arange(len(stored)), [arrow.num_rows for arrow in tables])

    def per_row(values: list[Any], unit: str) -> np.ndarray:
        return np.array(values, dtype=f"datetime64[{unit}]")[rows_of]

    # The units of the timestamps that extraction's rules saw (with_partition_columns).
    return frame.assign(
        **{
            PARTITION_COLUMN: per_row([bounds.day for _, bounds in stored], "s"),
            PARTITION_START_COLUMN: per_row([bounds.start for _, bounds in stored], "us"),
            PARTITION_END_COLUMN: per_row([bounds.end for _, bounds in stored], "us"),
        }
    )


# --- published tables ------------------------------------------------------------------------

_PARAMETER = re.compile(r"\$([a-z_]+)")


def published_check(
    asset_key: dg.AssetKey, suite_name: str, partitions_def: dg.PartitionsDefinition, expectations_dir: Path
) -> dg.AssetChecksDefinition:
    """The check of a warehouse table: its suite on the rows its SQL file selects for the run."""
    suite = load_suite(suite_path(expectations_dir, "published", suite_name))
    query = suite.path.with_suffix(".sql").read_text()

    def load(context: dg.AssetCheckExecutionContext, window: CheckWindow) -> Iterator[Batch]:
        warehouse: Warehouse = context.resources.warehouse
        values = {
            "window_start": window.first,
            "window_end": window.last,
            "restated_from": window.restated_from,
            **context.resources.data_quality.parameters,
        }
        bound = {name: values[name] for name in dict.fromkeys(_PARAMETER.findall(query))}
        # Read-only, and closed before validating: the warehouse file is never held open.
        with duckdb.connect(str(warehouse.database_path), read_only=True) as connection:
            frame = connection.execute(query, bound).df()
        days = pd.date_range(window.restated_from, window.last, freq="D")
        yield Batch(frame, suite, {"expected_dates": [day.date().isoformat() for day in days]})

    return build_suite_check(
        asset_key=asset_key,
        suite=suite,
        partitions_def=partitions_def,
        load_batches=load,
        required_resource_keys=set(),
        pool=WAREHOUSE_POOL,
    )


def published_checks(partitions_def: dg.PartitionsDefinition, expectations_dir: Path) -> list[dg.AssetChecksDefinition]:
    """A check per published suite, on the warehouse table its meta names."""
    checks = []
    for path in sorted((expectations_dir / "published").glob("*.json")):
        suite = load_suite(path)
        checks.append(published_check(dg.AssetKey([suite.meta["table"]]), suite.name, partitions_def, expectations_dir))
    return checks
