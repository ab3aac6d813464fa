"""Crashes, re-runs and concurrency: the real `loyalty-pipeline run` process, SIGKILLed at chosen
points, run again and again, and started twice at once (docs/reliability.md says what each proves)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import CODE_LOCATION_TAG

from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.publish import PUBLISHED_TABLES, SERVING_SCHEMA
from loyalty_pipeline.run_lock import CODE_LOCATION, DATA_DIR_TAG, lock_path
from loyalty_pipeline.runner import dagster_instance, run_range
from loyalty_pipeline.sensors import close_runs_of_killed_commands_sensor
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.transform import dbt_target_paths
from tests.helpers import SMALL, day, source_settings

pytestmark = pytest.mark.slow

# The smallest range that has every step do real work: three daily partitions.
FIRST, LAST = SMALL.start, day(SMALL.start, 2)
# How often the test looks at the event log while it waits for a run to reach a point.
POLL_SECONDS = 0.05
# A run of the small range takes about a minute and a half on two busy cores.
RUN_TIMEOUT_SECONDS = 900

# What a point to kill at looks for in a run's event log: (instance, run id) -> reached?
Point = Callable[[dg.DagsterInstance, str], bool]


def _events(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list[dg.EventLogEntry]:
    return [record.event_log_entry for record in instance.get_records_for_run(run_id, of_type=event_type).records]


def _step_started(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    return any(entry.step_key == step_key for entry in _events(instance, run_id, dg.DagsterEventType.STEP_START))


def _step_succeeded(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    return any(entry.step_key == step_key for entry in _events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS))


def _an_extract_asset_written(instance: dg.DagsterInstance, run_id: str) -> bool:
    """The first raw table has landed; the other extract steps have not all run."""
    return bool(_events(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION))


def _a_dbt_model_built(instance: dg.DagsterInstance, run_id: str) -> bool:
    """dbt has written a first model to the warehouse and is building the others."""
    materialised = _events(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
    return any(entry.step_key == "loyalty_dbt_models" for entry in materialised)


def _a_kpi_table_checked(instance: dg.DagsterInstance, run_id: str) -> bool:
    """A first published table's check has reported; the others run after it."""
    evaluations = _events(instance, run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return any(
        # dbt's tests report as checks too, from the dbt steps: only the quality gate's count here.
        not entry.step_key.startswith("loyalty_dbt_models")
        and entry.dagster_event.event_specific_data.asset_check_key.asset_key.path[0] in PUBLISHED_TABLES
        for entry in evaluations
    )


def _publishing_started(instance: dg.DagsterInstance, run_id: str) -> bool:
    return _step_started(instance, run_id, "publish_kpis")


@dataclasses.dataclass
class RunProcess:
    """A `loyalty-pipeline run` started as its own process group, its output in a file."""

    process: subprocess.Popen[bytes]
    output: Path

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=RUN_TIMEOUT_SECONDS)
        return code, self.output.read_text()

    def kill(self) -> None:
        """SIGKILL the command and everything it started (dbt included), as an OOM killer or reboot would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)


def _start(settings: Settings, first: str, last: str, name: str) -> RunProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("LOYALTY_", "DAGSTER_HOME"))}
    environment.update(
        LOYALTY_DATA_DIR=str(settings.data_dir),
        LOYALTY_SHOP_DB_URL=settings.resolved_shop_db_url,
        LOYALTY_LANDING_DIR=settings.resolved_landing_dir,
        LOYALTY_START_DATE=settings.start_date.isoformat(),
    )
    output = settings.data_dir.parent / f"{name}.out"
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_pipeline.cli", "run", "--start", first, "--end", last],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunProcess(process, output)


def _run(settings: Settings, name: str, first: str = FIRST.isoformat(), last: str = LAST.isoformat()) -> str:
    """Run the command to its end; return its output, failing the test when it fails."""
    code, output = _start(settings, first, last, name).finish()
    assert code == 0, output
    return output


def _current_run(instance: dg.DagsterInstance, settings: Settings) -> str | None:
    runs = instance.get_runs(
        dg.RunsFilter(
            job_name=LOYALTY_DAILY_JOB,
            statuses=[dg.DagsterRunStatus.STARTED],
            tags={DATA_DIR_TAG: str(settings.data_dir)},
        )
    )
    return runs[0].run_id if runs else None


def _wait_for(run: RunProcess, settings: Settings, point: Point) -> str:
    """Poll the run's event log until it reaches the point; return the run's id."""
    instance = dagster_instance(settings)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert run.process.poll() is None, f"the run ended before the point:\n{run.output.read_text()}"
        run_id = _current_run(instance, settings)
        if run_id and point(instance, run_id):
            return run_id
        time.sleep(POLL_SECONDS)
    pytest.fail("the run did not reach the point in time")


def published_digests(serving_path: Path, export_dir: Path) -> dict[str, str]:
    """sha256 of each published table exported to CSV in its publication order (the bytes BI reads)."""
    export_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    with duckdb.connect(str(serving_path), read_only=True) as connection:
        for table, order in PUBLISHED_TABLES.items():
            path = export_dir / f"{table}.csv"
            ordered = f"select * from {SERVING_SCHEMA}.{table} order by {', '.join(order)}"
            connection.execute(f"copy ({ordered}) to '{path}' (header)")
            digests[table] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _settings(root: Path, sources: Path) -> Settings:
    return source_settings(root / "data", sources, SMALL.start)


@pytest.fixture(autouse=True)
def _own_dagster_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run here keeps its Dagster instance in its data folder, as the command does by default."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, small_sources: Path) -> dict[str, str]:
    """The published tables of one uninterrupted run of the range, which every crash must end at."""
    root = tmp_path_factory.mktemp("baseline")
    settings = _settings(root, small_sources)
    previous = os.environ.pop("DAGSTER_HOME", None)
    try:
        run_range(settings, FIRST, LAST, echo=lambda _: None)
    finally:
        if previous is not None:
            os.environ["DAGSTER_HOME"] = previous
    return published_digests(settings.serving_path, root / "export")


@pytest.fixture
def crash_settings(tmp_path: Path, small_sources: Path) -> Settings:
    return _settings(tmp_path, small_sources)


def _assert_recovers(settings: Settings, killed_run: str, baseline: dict[str, str], tmp_path: Path) -> None:
    """The next run closes the killed one, completes, and publishes exactly the baseline."""
    output = _run(settings, "next")
    assert f"closed interrupted run {killed_run}" in output
    instance = dagster_instance(settings)
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_run_ids() == set(), "no pool slot is left held"
    assert published_digests(settings.serving_path, tmp_path / "after") == baseline
    assert not dbt_target_paths(settings.data_dir, killed_run), "the killed dbt's folder is gone"


@pytest.mark.parametrize(
    ("point", "not_started"),
    [
        pytest.param(_an_extract_asset_written, "loyalty_dbt_models", id="during-extraction"),
        pytest.param(_a_dbt_model_built, "predicted_clv", id="during-dbt"),
        pytest.param(_a_kpi_table_checked, "publish_kpis", id="during-checks"),
    ],
)
def test_a_run_killed_midway_is_completed_by_the_next_run(
    crash_settings: Settings, baseline: dict[str, str], tmp_path: Path, point: Point, not_started: str
) -> None:
    run = _start(crash_settings, FIRST.isoformat(), LAST.isoformat(), "killed")
    killed_run = _wait_for(run, crash_settings, point)
    run.kill()

    instance = dagster_instance(crash_settings)
    assert not _step_started(instance, killed_run, not_started), f"killed before {not_started}"
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.STARTED, "the kill left no end"
    assert not crash_settings.serving_path.exists(), "nothing was published"
    if point is _a_dbt_model_built:
        assert dbt_target_paths(crash_settings.data_dir, killed_run), "the killed dbt step left its folder"
    _assert_recovers(crash_settings, killed_run, baseline, tmp_path)


def test_a_run_killed_while_publishing_leaves_the_last_publication_whole(
    crash_settings: Settings, baseline: dict[str, str], tmp_path: Path
) -> None:
    # A first publication of fewer partitions: the one readers must keep seeing after the kill.
    _run(crash_settings, "first", last=day(SMALL.start, 1).isoformat())
    published_bytes = crash_settings.serving_path.read_bytes()
    reader = duckdb.connect(str(crash_settings.serving_path), read_only=True)
    previous_days = reader.execute(f"select max(date) from {SERVING_SCHEMA}.kpi_daily").fetchone()

    run = _start(crash_settings, FIRST.isoformat(), LAST.isoformat(), "killed")
    killed_run = _wait_for(run, crash_settings, _publishing_started)
    # The publish step writes the new file beside the old one: kill while that file is being written.
    while not list(crash_settings.serving_path.parent.glob(f".{crash_settings.serving_path.name}.*.tmp")):
        assert run.process.poll() is None, "the run ended before writing the new serving file"
    run.kill()

    assert not _step_succeeded(dagster_instance(crash_settings), killed_run, "publish_kpis")
    assert crash_settings.serving_path.read_bytes() == published_bytes, "the serving file is untouched"
    # A reader open across the kill, and one opened after it, both see the whole previous version.
    assert reader.execute(f"select max(date) from {SERVING_SCHEMA}.kpi_daily").fetchone() == previous_days
    reader.close()
    with duckdb.connect(str(crash_settings.serving_path), read_only=True) as after:
        for table in PUBLISHED_TABLES:
            after.execute(f"select count(*) from {SERVING_SCHEMA}.{table}").fetchone()
        assert after.execute(f"select max(date) from {SERVING_SCHEMA}.kpi_daily").fetchone() == previous_days

    _assert_recovers(crash_settings, killed_run, baseline, tmp_path)
    leftovers = list(crash_settings.serving_path.parent.glob(".*"))
    assert leftovers == [], "the killed publish's half-written file is removed"


def test_rerunning_a_partition_or_the_range_republishes_identical_bytes(
    crash_settings: Settings, baseline: dict[str, str], tmp_path: Path
) -> None:
    _run(crash_settings, "range")
    assert published_digests(crash_settings.serving_path, tmp_path / "range") == baseline

    _run(crash_settings, "last-partition", first=LAST.isoformat())
    assert published_digests(crash_settings.serving_path, tmp_path / "partition") == baseline

    # An earlier partition alone restates its days as of that day (what was delivered by then):
    # re-running the range afterwards gives back exactly the range's bytes.
    middle = day(SMALL.start, 1).isoformat()
    _run(crash_settings, "middle-partition", first=middle, last=middle)
    _run(crash_settings, "range-again")
    assert published_digests(crash_settings.serving_path, tmp_path / "again") == baseline


def test_two_runs_at_once_one_runs_the_other_names_the_lock_holder(
    crash_settings: Settings, baseline: dict[str, str], tmp_path: Path
) -> None:
    runs = [_start(crash_settings, FIRST.isoformat(), LAST.isoformat(), name) for name in ("one", "two")]
    results = sorted((run.finish() for run in runs), key=lambda result: result[0])

    (ok_code, _), (locked_code, locked_output) = results
    assert (ok_code, locked_code) == (0, 1), locked_output
    assert f"another run is using the data folder {crash_settings.data_dir}" in locked_output
    assert str(lock_path(crash_settings.data_dir)) in locked_output
    assert f"partitions {FIRST}..{LAST}" in locked_output, "the message names what holds the lock"
    runs_made = dagster_instance(crash_settings).get_runs()
    assert [run.status for run in runs_made] == [dg.DagsterRunStatus.SUCCESS], "the refused run started nothing"
    assert published_digests(crash_settings.serving_path, tmp_path / "after") == baseline


def test_a_killed_commands_run_is_closed_by_the_sensor_and_no_longer_holds_the_queue(
    crash_settings: Settings,
) -> None:
    run = _start(crash_settings, FIRST.isoformat(), LAST.isoformat(), "killed")
    killed_run = _wait_for(run, crash_settings, _an_extract_asset_written)
    instance = dagster_instance(crash_settings)
    sensor_context = dg.build_sensor_context(instance=instance)

    # While the command is alive it holds its folder's lock: the sensor leaves its run alone.
    assert close_runs_of_killed_commands_sensor(sensor_context).skip_message == "no killed command's run"
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.STARTED

    run.kill()
    # Killed, its run still shows in progress with the tag that holds the run queue.
    killed = instance.get_run_by_id(killed_run)
    assert killed.status == dg.DagsterRunStatus.STARTED
    assert killed.tags[CODE_LOCATION_TAG] == CODE_LOCATION

    reason = close_runs_of_killed_commands_sensor(sensor_context)
    assert reason.skip_message == "closed 1 run(s) of killed commands"
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_run_ids() == set(), "no pool slot is left held"
    assert close_runs_of_killed_commands_sensor(sensor_context).skip_message == "no killed command's run"
