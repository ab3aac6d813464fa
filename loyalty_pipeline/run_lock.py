"""One `loyalty-pipeline run` at a time per data folder (an exclusive lock on a file in it),
one run of the pipeline at a time per Dagster instance, and closing the runs of killed commands.

The warehouse is a DuckDB file, which one process at a time may write; two runs over the
same data folder would also restate the same raw partitions and publish over each other.
The lock is an advisory `flock` on `$LOYALTY_DATA_DIR/run.lock`: the kernel releases it
when its holder exits however it exits (SIGKILL included), so a crash never leaves the
folder locked. The file itself only says who holds it, for the message the next run gives.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import CODE_LOCATION_TAG

from loyalty_pipeline.errors import RunLockedError
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.transform import dbt_target_paths

# Each run of the command carries its data folder, so the next run over that folder can tell
# the runs it may close after a crash from those of other folders sharing a $DAGSTER_HOME.
DATA_DIR_TAG = "loyalty/data_dir"
# And the machine it ran on: only there can its run lock tell whether it is still alive.
HOST_TAG = "loyalty/host"
# workspace.yaml's location_name. Dagster tags every run it creates from the code location with
# it, and config/dagster.yaml lets one such run run at a time: the command's in-process runs
# carry the tag too, so a run queued from the UI, a backfill or the schedule waits for them.
CODE_LOCATION = "loyalty_pipeline"
# A run in these states may be writing the warehouse; queued and finished runs are not.
_RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def lock_path(data_dir: Path) -> Path:
    return data_dir / "run.lock"


@contextmanager
def run_lock(data_dir: Path, purpose: str) -> Iterator[None]:
    """Hold the data folder's run lock, or raise RunLockedError naming its holder at once."""
    path = lock_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: the holder's description must survive a failed attempt.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "a process that has not yet said who it is"
            raise RunLockedError(
                f"another run is using the data folder {data_dir}: {path} is held by {holder}. "
                "Wait for it to finish and run again (the lock is released when its process ends, "
                "even if it is killed)."
            ) from None
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}, {purpose}, since {since}\n".encode(), 0)
        yield
    finally:
        # Closing the descriptor releases the lock; the stale description is overwritten by the next holder.
        os.close(descriptor)


def close_interrupted_runs(instance: dg.DagsterInstance, data_dir: Path, closed_by: str) -> list[str]:
    """Mark failed the command's runs of this data folder still shown in progress; return their ids.

    Called holding the folder's run lock, so no such run is alive: its process was killed
    or crashed before it could record an end. Closing it frees the concurrency-pool slots it
    held (no daemon does so for in-process runs), lets the runs queued behind it start, and
    removes its dbt artifacts folder.
    """
    interrupted = instance.get_runs(
        dg.RunsFilter(job_name=LOYALTY_DAILY_JOB, statuses=IN_PROGRESS_RUN_STATUSES, tags={DATA_DIR_TAG: str(data_dir)})
    )
    for run in interrupted:
        instance.report_run_failed(
            run, message=f"its process ended without recording an end (killed or crashed); closed by {closed_by}"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        for path in dbt_target_paths(data_dir, run.run_id):
            shutil.rmtree(path, ignore_errors=True)
    return [run.run_id for run in interrupted]


def close_runs_of_killed_commands(instance: dg.DagsterInstance) -> list[str]:
    """Close the in-progress runs of this machine's data folders whose run lock nobody holds; return their ids.

    A command that is alive holds its folder's lock for its whole run, so a folder whose lock
    is free has no command alive. Runs of other machines (an instance with shared storage)
    and of folders that are gone are left alone: no lock here can tell about them.
    """
    in_progress = instance.get_runs(
        dg.RunsFilter(
            job_name=LOYALTY_DAILY_JOB, statuses=IN_PROGRESS_RUN_STATUSES, tags={HOST_TAG: socket.gethostname()}
        )
    )
    closed: list[str] = []
    for folder in sorted({Path(run.tags[DATA_DIR_TAG]) for run in in_progress if DATA_DIR_TAG in run.tags}):
        if not folder.is_dir():
            continue
        try:
            with run_lock(folder, "closing the runs of a killed command"):
                closed += close_interrupted_runs(instance, folder, "the sensor close_runs_of_killed_commands_sensor")
        except RunLockedError:
            continue  # a command is running over that folder: its runs are alive
    return closed


def refuse_while_a_run_is_in_progress(instance: dg.DagsterInstance, first: dt.date, last: dt.date) -> None:
    """Stop before a chunk while another run of the pipeline is in progress on the instance.

    Both would restate and publish over each other: the pool keeps their steps off the
    warehouse at the same moment, not from interleaving.
    """
    running = instance.get_runs(dg.RunsFilter(statuses=_RUNNING, tags={CODE_LOCATION_TAG: CODE_LOCATION}), limit=1)
    if not running:
        return
    run = running[0]
    source = (
        f"a `loyalty-pipeline run` over {run.tags[DATA_DIR_TAG]}"
        if DATA_DIR_TAG in run.tags
        else "launched from the UI, a backfill or the schedule"
    )
    raise RunLockedError(
        f"run {run.run_id} ({run.job_name}) of the pipeline is in progress on the Dagster instance "
        f"{instance.root_directory}, {source}; stopped before partitions {first}..{last}. Wait for it to "
        "finish and run again (if its process is gone, because `dagster dev` was stopped, terminate the "
        "run in the UI first)."
    )
