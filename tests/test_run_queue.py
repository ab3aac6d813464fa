"""The instance's run queue (config/dagster.yaml) starts one run of the pipeline at a time.

Runs launched from the UI, a backfill or the schedule wait in Dagster's queue. Two of them
running together would interleave their steps (the warehouse pool lets one step at a time
through): one run's publishing could then copy tables that the other run has just rebuilt
and not yet checked. A backfill launched from the asset graph is an asset backfill: its runs
belong to Dagster's implicit asset job and carry none of the pipeline job's tags, only the
tags Dagster gives every run it creates from a code location. These tests queue the runs
the real backfill daemon creates (for an asset backfill, and for a backfill of the job, whose
runs are what the schedule creates) and run one iteration of the real queue daemon; only the
launcher is Dagster's test launcher, which records a launched run instead of starting a
process. The command line runs in-process, outside the queue: its runs carry the same tag,
so the queue waits for them, and it refuses to start while a queued run is in progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import RemotePartitionSetOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from loyalty_pipeline.errors import RunLockedError
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.run_lock import CODE_LOCATION
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import INSTANCE_TEMPLATE, Settings

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# The code location as `dagster dev -w workspace.yaml` names it.
LOCATION = yaml.safe_load((REPOSITORY_ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"][
    "location_name"
]
TEST_LAUNCHER = """
run_launcher:
  module: dagster._core.test_utils
  class: MockedRunLauncher
code_servers:
  wait_for_local_processes_on_shutdown: true
"""
IN_PROGRESS = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED}


@pytest.fixture
def workspace(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceProcessContext]:
    """The pipeline's code location loaded as `dagster dev` loads it, on an instance with the
    project's settings, which the command line uses too ($DAGSTER_HOME)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_TEMPLATE.read_text() + TEST_LAUNCHER)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOYALTY_START_DATE", settings.start_date.isoformat())
    target = ModuleTarget(
        module_name="loyalty_pipeline.definitions",
        attribute=None,
        working_directory=str(REPOSITORY_ROOT),
        location_name=LOCATION,
    )
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        create_test_daemon_workspace_context(target, instance) as context,
    ):
        yield context


def _asset_backfill(context: WorkspaceProcessContext, backfill_id: str, days: list[str]) -> None:
    """What the UI's "Materialize" over partitions of the asset graph asks the backfill daemon for."""
    graph = context.create_request_context().asset_graph
    partitioned = [key for key in graph.get_all_asset_keys() if graph.get(key).is_partitioned]
    context.instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=graph,
            partition_names=days,
            asset_selection=partitioned,
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=context.instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
    )


def _job_backfill(context: WorkspaceProcessContext, backfill_id: str, days: list[str]) -> None:
    """A backfill of the daily job from its partitions page: runs of the job, as the schedule makes."""
    location = context.create_request_context().get_code_location(LOCATION)
    repository = next(iter(location.get_repositories().values()))
    partition_set = repository.get_partition_set(f"{LOYALTY_DAILY_JOB}_partition_set")
    context.instance.add_backfill(
        PartitionBackfill(
            backfill_id=backfill_id,
            partition_set_origin=RemotePartitionSetOrigin(
                repository_origin=repository.get_remote_origin(), partition_set_name=partition_set.name
            ),
            status=BulkActionStatus.REQUESTED,
            partition_names=days,
            from_failure=False,
            reexecution_steps=None,
            tags={},
            backfill_timestamp=time.time(),
        )
    )


def _queue_backfill_runs(context: WorkspaceProcessContext) -> list[dg.DagsterRun]:
    for _ in range(2):
        list(execute_backfill_iteration(context, logging.getLogger("backfill")))
    return list(context.instance.get_runs())


def _dequeue_once(context: WorkspaceProcessContext) -> dict[str, dg.DagsterRunStatus]:
    """One iteration of the queue daemon; each run's status after it."""
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(context))
    return {run.run_id: run.status for run in context.instance.get_runs()}


def test_an_asset_backfill_and_a_run_of_the_job_never_run_at_once(workspace: WorkspaceProcessContext) -> None:
    _asset_backfill(workspace, "asset-backfill", ["2026-01-02", "2026-01-03"])
    _job_backfill(workspace, "job-backfill", ["2026-01-03"])
    runs = _queue_backfill_runs(workspace)
    # The two kinds of run really differ: the asset backfill's run has none of the job's tags.
    assert sorted(run.job_name for run in runs) == ["__ASSET_JOB", LOYALTY_DAILY_JOB]
    assert {run.status for run in runs} == {dg.DagsterRunStatus.QUEUED}

    statuses = _dequeue_once(workspace)
    assert sorted(statuses.values(), key=str) == sorted(
        [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING], key=str
    ), statuses


def test_two_asset_backfills_over_the_same_days_run_one_after_the_other(workspace: WorkspaceProcessContext) -> None:
    _asset_backfill(workspace, "first", ["2026-01-02", "2026-01-03"])
    _asset_backfill(workspace, "second", ["2026-01-03", "2026-01-04"])
    runs = _queue_backfill_runs(workspace)
    assert [run.job_name for run in runs] == ["__ASSET_JOB", "__ASSET_JOB"]

    statuses = _dequeue_once(workspace)
    assert sum(status in IN_PROGRESS for status in statuses.values()) == 1, statuses
    assert sum(status == dg.DagsterRunStatus.QUEUED for status in statuses.values()) == 1, statuses


def test_the_limit_is_on_the_location_the_workspace_loads_and_the_command_tags() -> None:
    limits = yaml.safe_load(INSTANCE_TEMPLATE.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "dagster/code_location", "value": LOCATION, "limit": 1} in limits
    assert CODE_LOCATION == LOCATION


def test_a_run_queued_while_the_command_runs_waits_for_it(
    workspace: WorkspaceProcessContext, settings: Settings
) -> None:
    day = settings.start_date
    _job_backfill(workspace, "scheduled-like", [day.isoformat()])
    [queued] = _queue_backfill_runs(workspace)
    seen_while_running: list[dict[str, dg.DagsterRunStatus]] = []
    errors: list[BaseException] = []

    def echo(line: str) -> None:
        # A step of the command's run has finished: its run is in progress. (Called from the
        # command's progress thread, whose exceptions would otherwise go unseen.)
        if " done (" in line and not seen_while_running and not errors:
            try:
                seen_while_running.append(_dequeue_once(workspace))
            except BaseException as error:
                errors.append(error)

    run_range(settings, day, day, echo=echo)

    if errors:
        raise errors[0]
    assert seen_while_running, "the command's run reported no step"
    assert seen_while_running[0][queued.run_id] == dg.DagsterRunStatus.QUEUED
    # Once the command's run has ended, the queue starts the waiting run.
    assert _dequeue_once(workspace)[queued.run_id] == dg.DagsterRunStatus.STARTING


def test_the_command_refuses_to_start_while_a_queued_run_is_in_progress(
    workspace: WorkspaceProcessContext, settings: Settings
) -> None:
    day = settings.start_date
    _asset_backfill(workspace, "from-the-ui", [day.isoformat()])
    [started] = _queue_backfill_runs(workspace)
    assert _dequeue_once(workspace)[started.run_id] == dg.DagsterRunStatus.STARTING

    with pytest.raises(RunLockedError) as refused:
        run_range(settings, day, day, echo=lambda _: None)

    assert started.run_id in str(refused.value)
    assert f"partitions {day}..{day}" in str(refused.value)
    assert [run.run_id for run in workspace.instance.get_runs()] == [started.run_id]  # the command made none
