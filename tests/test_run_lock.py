"""The data folder's run lock, held by a real other process and released by killing it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty_pipeline.errors import RunLockedError
from loyalty_pipeline.run_lock import lock_path, run_lock

# A process that takes the lock, says so, and holds it until killed.
HOLDER = """
import sys, time
from pathlib import Path
from loyalty_pipeline.run_lock import run_lock
with run_lock(Path(sys.argv[1]), "partitions 2026-01-01..2026-01-03"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_holder_is_refused_naming_the_first_until_the_first_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as refused, run_lock(tmp_path, "partitions 2026-01-02..2026-01-02"):
            pytest.fail("the lock was taken twice")
        message = str(refused.value)
        assert f"{lock_path(tmp_path)} is held by pid {holder.pid}" in message
        assert "partitions 2026-01-01..2026-01-03" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    with run_lock(tmp_path, "partitions 2026-01-02..2026-01-02"):
        assert "partitions 2026-01-02..2026-01-02" in lock_path(tmp_path).read_text()
