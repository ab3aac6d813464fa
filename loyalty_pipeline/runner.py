"""Materialise a range of daily partitions through Dagster, in chunks, reporting progress."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    CODE_LOCATION_TAG,
)
from dagster._core.utils import make_new_run_id

from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.errors import RunFailedError
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.memory import long_lived_objects_frozen
from loyalty_pipeline.names import quote_identifier
from loyalty_pipeline.partitions import chunks
from loyalty_pipeline.publish import PUBLISHED_TABLES, SERVING_SCHEMA
from loyalty_pipeline.quality.raw import parquet_rows
from loyalty_pipeline.run_lock import (
    CODE_LOCATION,
    DATA_DIR_TAG,
    HOST_TAG,
    close_interrupted_runs,
    refuse_while_a_run_is_in_progress,
    run_lock,
)
from loyalty_pipeline.settings import INSTANCE_TEMPLATE, Settings

# Dagster's console logs go to the run's event log (and the UI); the terminal shows progress.
_STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RangeSummary:
    start: dt.date
    end: dt.date
    run_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def partitions(self) -> int:
        return (self.end - self.start).days + 1


def _one_planned_event_per_asset() -> None:
    # A run over a partition range otherwise logs one "planned" event per asset and
    # partition before any work starts: with SQLite storage that is most of a 180-day
    # backfill's time. The cost: a failed run does not mark each partition failed (the run
    # itself shows as failed). Set the variable to false to get per-partition events back.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME, or one kept in the data folder so `make dev` shows the runs."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_config = settings.dagster_home / "dagster.yaml"
    if not instance_config.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, instance_config)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """Failed steps, then every failed check with what it found (its description)."""
    messages = []
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            messages.append(f"step {event.step_key} failed: {error.message.strip() if error else 'unknown error'}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            severity = evaluation.severity.value
            messages.append(
                f"check {evaluation.asset_check_key.to_user_string()} {severity}: {evaluation.description or ''}"
            )
    return messages


@contextmanager
def step_progress(instance: dg.DagsterInstance, run_id: str, echo: Callable[[str], None]) -> Iterator[None]:
    """Echo each step of a run as it finishes, read from the run's event log while it runs."""
    finished = threading.Event()
    reported: set[str] = set()

    def report() -> None:
        started: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type=_STEP_EVENTS):
            step, event_type = entry.step_key, entry.dagster_event.event_type
            if event_type == dg.DagsterEventType.STEP_START:
                started[step] = entry.timestamp
            elif step not in reported:
                reported.add(step)
                outcome = "done" if event_type == dg.DagsterEventType.STEP_SUCCESS else "FAILED"
                echo(f"      {step} {outcome} ({entry.timestamp - started.get(step, entry.timestamp):.1f}s)")

    def watch() -> None:
        while not finished.wait(1.0):
            report()
        report()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()


def run_range(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    chunk_days: int = 30,
    echo: Callable[[str], None] | None = None,
) -> RangeSummary:
    """Materialise every asset for the partitions start..end, one Dagster run per chunk.

    A chunk's run sees the records delivered up to its last day ("as of a run"), so a
    backfill in chunks equals one run over the range only for records that arrive within
    the lookback of their day.
    """
    # Bound now: during a run stdout goes to the run's log file.
    echo = echo or functools.partial(print, file=sys.stdout, flush=True)
    if start < settings.start_date:
        raise ValueError(f"--start {start} is before LOYALTY_START_DATE {settings.start_date}")
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    job = build_definitions(settings).resolve_job_def(LOYALTY_DAILY_JOB)
    _one_planned_event_per_asset()
    with run_lock(settings.data_dir, f"partitions {start}..{end}"), long_lived_objects_frozen():
        instance = dagster_instance(settings)
        for run_id in close_interrupted_runs(instance, settings.data_dir, "the next run of the command"):
            echo(f"  closed interrupted run {run_id} (marked failed; this run redoes its work)")
        return _run_chunks(settings, instance, job, start, end, chunk_days, echo)


def _run_chunks(
    settings: Settings,
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    start: dt.date,
    end: dt.date,
    chunk_days: int,
    echo: Callable[[str], None],
) -> RangeSummary:
    summary = RangeSummary(start=start, end=end)
    began = time.monotonic()
    ranges = list(chunks(start, end, chunk_days))
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for number, (first, last) in enumerate(ranges, start=1):
        chunk_began = time.monotonic()
        log_path = log_dir / f"run-{first.isoformat()}-{last.isoformat()}.log"
        refuse_while_a_run_is_in_progress(instance, first, last)
        run_id = make_new_run_id()
        echo(f"  [{number}/{len(ranges)}] partitions {first} .. {last}: run {run_id}")
        # dbt's console output goes to a log file; the run's events stay in Dagster.
        with (
            step_progress(instance, run_id, echo),
            log_path.open("w") as log,
            redirect_stdout(log),
            redirect_stderr(log),
        ):
            result = job.execute_in_process(
                run_id=run_id,
                instance=instance,
                run_config=_QUIET_RUN_CONFIG,
                raise_on_error=False,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
                    DATA_DIR_TAG: str(settings.data_dir),
                    HOST_TAG: socket.gethostname(),
                    CODE_LOCATION_TAG: CODE_LOCATION,
                },
            )
        summary.run_ids.append(result.run_id)
        if not result.success:
            details = "\n  ".join(_failure_messages(result)) or "see the run in the Dagster UI"
            raise RunFailedError(
                f"run {result.run_id} for partitions {first}..{last} failed:\n  {details}\n  console output: {log_path}"
            )
        echo(f"  [{number}/{len(ranges)}] partitions {first} .. {last} done in {time.monotonic() - chunk_began:.1f}s")
    summary.seconds = time.monotonic() - began
    return summary


def published_row_counts(settings: Settings) -> dict[str, int]:
    """Rows of each published KPI table in the serving file (read-only, after the runs)."""
    if not settings.serving_path.exists():
        return {}
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return {
            table: connection.execute(f"select count(*) from {SERVING_SCHEMA}.{quote_identifier(table)}").fetchone()[0]
            for table in PUBLISHED_TABLES
        }


def quarantined_row_counts(settings: Settings) -> dict[str, int]:
    """Rows in quarantine per source table, every partition."""
    counts = {}
    for folder in sorted(path for path in settings.quarantine_dir.glob("*/*") if path.is_dir()):
        rows = sum(parquet_rows(path) for path in folder.glob("*.parquet"))
        if rows:
            counts[f"{folder.parent.name}.{folder.name}"] = rows
    return counts


def raw_row_counts(settings: Settings, start: dt.date, end: dt.date) -> dict[str, int]:
    """Rows in the raw store per source table for the partitions start..end."""
    counts = {}
    with duckdb.connect() as connection:
        for table in load_contract(settings.dbt_project_dir):
            folder = settings.raw_dir / table.source / table.name
            if not settings.is_enabled(table.source) or not any(folder.glob("*.parquet")):
                continue
            (count,) = connection.execute(
                "select count(*) from read_parquet(?, union_by_name = true) where _partition_date between ? and ?",
                [str(folder / "*.parquet"), start, end],
            ).fetchone()
            counts[f"{table.source}.{table.name}"] = count
    return counts
