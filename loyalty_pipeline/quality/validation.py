"""Run a suite over pandas batches with Great Expectations and summarise what failed.

GX validates pandas DataFrames here: its SQL path through duckdb-engine returns empty metric
queries, and dagster-ge does not support GX 1.x. Large batches are validated in chunks of
whole partitions, so keys stay unique per partition and memory stays bounded.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loyalty_pipeline.quality.suites import SuiteFile

# GX reports usage to its cloud by default; the pipeline runs without internet.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

SAMPLE_LIMIT = 20
DOCS_SITE = "loyalty"


@dataclass
class ExpectationFailure:
    """One expectation that failed on a batch: what the on-call engineer needs to act on it."""

    suite: str
    expectation: str
    columns: list[str]
    rule: str
    severity: str  # "error" or "warn"
    quarantine: bool
    unexpected_count: int = 0
    observed: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)
    # Positions (in the validated frame) of the offending rows, for row-level rules.
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def describe(self) -> str:
        where = f" in partition(s) {', '.join(sorted(self.partitions))}" if self.partitions else ""
        count = f"{self.unexpected_count} unexpected row(s)" if self.unexpected_count else f"observed {self.observed}"
        return f"{self.suite}: {self.expectation}({', '.join(self.columns)}) — {self.rule}: {count}{where}"


@dataclass
class ValidationOutcome:
    """The failures of a suite over a whole batch, possibly validated in several chunks."""

    suite: str
    rows: int
    failures: list[ExpectationFailure]
    docs_page: str | None = None

    @property
    def errors(self) -> list[ExpectationFailure]:
        return [failure for failure in self.failures if failure.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationFailure]:
        return [failure for failure in self.failures if failure.severity == "warn"]


@cache
def _context(docs_dir: str) -> Any:
    """One ephemeral GX context per process, with a Data Docs site in the data folder."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name=DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
        },
    )
    context.data_sources.add_pandas("loyalty")
    return context


def _validation_definition(context: Any, suite: SuiteFile) -> Any:
    """The GX validation definition of a suite, created once per process."""
    try:
        return context.validation_definitions.get(suite.name)
    except Exception:  # GX raises a plain DataContextError when it does not exist yet.
        pass
    expectation_suite = context.suites.add(
        gx.ExpectationSuite(name=suite.name, expectations=[dict(item) for item in suite.expectations], meta=suite.meta)
    )
    batch_definition = (
        context.data_sources.get("loyalty")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("batch")
    )
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=expectation_suite)
    )


def _chunks(frame: pd.DataFrame, chunk_rows: int, chunk_by: str | None) -> Iterator[pd.DataFrame]:
    """Slices of at most about chunk_rows rows; a group of chunk_by values is never split."""
    if chunk_by is None or len(frame) <= chunk_rows:
        yield frame
        return
    sizes = frame.groupby(chunk_by, sort=True).size()
    current: list[Any] = []
    current_rows = 0
    for value, size in sizes.items():
        if current and current_rows + size > chunk_rows:
            yield frame[frame[chunk_by].isin(current)]
            current, current_rows = [], 0
        current.append(value)
        current_rows += size
    if current:
        yield frame[frame[chunk_by].isin(current)]


def _columns(kwargs: dict[str, Any]) -> list[str]:
    for key in ("column", "column_list"):
        if key in kwargs:
            value = kwargs[key]
            return [value] if isinstance(value, str) else list(value)
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return []


def _json_safe(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)


def _failure(
    suite: SuiteFile, result: Any, chunk: pd.DataFrame, key_columns: Sequence[str], partition_column: str | None
) -> ExpectationFailure:
    config = result.expectation_config
    meta = config.meta or {}
    columns = _columns(config.kwargs)
    positions = np.asarray(result.result.get("unexpected_index_list") or [], dtype=np.int64)
    # unexpected_index_list holds index labels; the chunk keeps the full frame's positional index.
    failure = ExpectationFailure(
        suite=suite.name,
        expectation=config.type,
        columns=columns,
        rule=meta.get("rule", config.type),
        severity="error" if str(config.severity).lower().endswith("critical") else "warn",
        quarantine=bool(meta.get("quarantine")),
        unexpected_count=int(result.result.get("unexpected_count") or 0),
        observed=_json_safe(result.result.get("observed_value")),
        positions=positions,
    )
    if result.exception_info and result.exception_info.get("raised_exception"):
        failure.observed = f"expectation raised: {result.exception_info.get('exception_message')}"
    if len(positions):
        offending = chunk.loc[positions]
        shown = [name for name in (*key_columns, *columns) if name in offending.columns]
        failure.samples = [
            {name: _json_safe(value) for name, value in row.items()}
            for row in offending[list(dict.fromkeys(shown))].head(SAMPLE_LIMIT).to_dict("records")
        ]
        if partition_column and partition_column in offending.columns:
            counts = offending[partition_column].map(_json_safe).value_counts()
            failure.partitions = {str(key): int(value) for key, value in counts.items()}
    return failure


def _merge(into: dict[tuple, ExpectationFailure], failure: ExpectationFailure) -> None:
    key = (failure.expectation, tuple(failure.columns), failure.rule)
    if key not in into:
        into[key] = failure
        return
    kept = into[key]
    kept.unexpected_count += failure.unexpected_count
    kept.samples = (kept.samples + failure.samples)[:SAMPLE_LIMIT]
    kept.positions = np.concatenate([kept.positions, failure.positions])
    for partition, count in failure.partitions.items():
        kept.partitions[partition] = kept.partitions.get(partition, 0) + count


def merge_outcomes(outcomes: Sequence[ValidationOutcome]) -> list[ValidationOutcome]:
    """Outcomes of the same suite over several batches folded into one per suite."""
    merged: dict[str, ValidationOutcome] = {}
    for outcome in outcomes:
        if outcome.suite not in merged:
            merged[outcome.suite] = outcome
            continue
        kept = merged[outcome.suite]
        failures = {(f.expectation, tuple(f.columns), f.rule): f for f in kept.failures}
        for failure in outcome.failures:
            _merge(failures, failure)
        kept.failures = list(failures.values())
        kept.rows += outcome.rows
        kept.docs_page = kept.docs_page or outcome.docs_page
    return list(merged.values())


def validate_frame(
    frame: pd.DataFrame,
    suite: SuiteFile,
    *,
    parameters: dict[str, Any] | None = None,
    key_columns: Sequence[str] = (),
    partition_column: str | None = None,
    chunk_rows: int = 1_000_000,
    docs_dir: Path,
    run_name: str,
    expectations: Sequence[dict[str, Any]] | None = None,
) -> ValidationOutcome:
    """Validate a frame against a suite (or a subset of its expectations), chunk by chunk.

    Row positions in failures refer to `frame`'s rows in order. Data Docs are built only
    for a chunk that failed, and the outcome names the page.
    """
    context = _context(str(docs_dir))
    selected = suite if expectations is None else suite.subset("rows", tuple(expectations))
    definition = _validation_definition(context, selected)
    frame = frame.reset_index(drop=True)
    failures: dict[tuple, ExpectationFailure] = {}
    docs_page = None
    for chunk in _chunks(frame, chunk_rows, partition_column):
        run_id = gx.RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
        result = definition.run(
            batch_parameters={"dataframe": chunk},
            expectation_parameters=parameters or {},
            result_format={"result_format": "COMPLETE", "include_unexpected_rows": False},
            run_id=run_id,
        )
        for item in result.results:
            if not item.success:
                _merge(failures, _failure(selected, item, chunk, key_columns, partition_column))
        if not result.success and docs_page is None:
            docs_page = _build_docs(context, selected.name, result, run_id)
        _forget_batch(context, result.batch_id)
    return ValidationOutcome(suite=suite.name, rows=len(frame), failures=list(failures.values()), docs_page=docs_page)


def _forget_batch(context: Any, batch_id: str) -> None:
    """Drop GX's references to a validated chunk.

    The data source's execution engine, cached for the life of the process, keeps the last batch
    of every asset it validated: each suite's last chunk (up to `chunk_rows` rows) stayed in memory
    until the run process ended, beside dbt's DuckDB.
    """
    batch_manager = context.data_sources.get("loyalty").get_execution_engine().batch_manager
    batch_manager.batch_data_cache.pop(batch_id, None)
    batch_manager.reset_batch_cache()


def _build_docs(context: Any, suite_name: str, result: Any, run_id: Any) -> str | None:
    """Render the Data Docs page of one validation result; return its file path."""
    identifier = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
        run_id=run_id,
        batch_identifier=result.batch_id,
    )
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[identifier], build_index=True)
    urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name=DOCS_SITE)
    url = urls[0]["site_url"] if urls else None
    return url.removeprefix("file://") if url else None
