"""One `loyalty-pipeline run` at a time per data folder: an exclusive lock on a file in it.

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
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loyalty_pipeline.errors import RunLockedError


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
