"""Memory: a run in one process gives each step's freed memory back to the operating system
(loyalty_pipeline/memory.py), and extraction holds a bounded share of a large delivery in Python objects."""

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

import dagster as dg
import pandas as pd

from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.memory import long_lived_objects_frozen, release_freed_memory
from loyalty_pipeline.quality.suites import load_suite
from loyalty_pipeline.quality.validation import validate_frame
from tests.helpers import SMALL, source_settings

# Many small Arrow tables and their pandas frames, as extraction builds them, freed, then released.
RELEASE_SCRIPT = """
import gc, json, numpy as np, pandas as pd, psutil, pyarrow as pa
from loyalty_pipeline.memory import release_freed_memory

def rss():
    return psutil.Process().memory_info().rss / 2**20

tables = [
    pa.table({"session_id": pa.array([f"s-{i:09d}-{k}" for i in range(20_000)]), "pageviews": np.arange(20_000)})
    for k in range(300)
]
frames = pd.concat([table.to_pandas() for table in tables])
del tables, frames
gc.collect()
freed = rss()
release_freed_memory()
print(json.dumps({"freed": freed, "released": rss()}))
"""


def figures_of(script: str) -> dict[str, float]:
    """The JSON a script prints, run in a fresh process so that its memory is its own."""
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(printed.stdout)


def test_freed_arrow_and_heap_memory_goes_back_to_the_system() -> None:
    figures = figures_of(RELEASE_SCRIPT)
    # About 480 MiB resident once freed, about 130 MiB once released, on the machine this was written on.
    assert figures["freed"] - figures["released"] > 150, figures


# A frame only a reference cycle holds, with the cyclic collector off so that only the release can free it.
CYCLE_SCRIPT = """
import gc, json, numpy as np, pandas as pd, psutil
from loyalty_pipeline.memory import release_freed_memory

def rss():
    return psutil.Process().memory_info().rss / 2**20

gc.disable()
holder = {"frame": pd.DataFrame({"amount": np.ones(50_000_000)})}
holder["self"] = holder
del holder
held = rss()
release_freed_memory()
print(json.dumps({"held": held, "released": rss()}))
"""


def test_memory_held_in_reference_cycles_goes_back_to_the_system() -> None:
    figures = figures_of(CYCLE_SCRIPT)
    # The frame is 381 MiB.
    assert figures["held"] - figures["released"] > 300, figures


class _Node:
    """A container that can be part of a reference cycle and be weakly referenced."""


def test_a_run_leaves_loaded_objects_out_of_the_collections_and_still_frees_its_own_cycles() -> None:
    loaded = _Node()
    with long_lived_objects_frozen():
        # What was alive on entry is frozen: the per-step collection no longer scans it.
        assert gc.get_freeze_count() > 0
        assert not any(kept is loaded for kept in gc.get_objects())
        cycle = _Node()
        cycle.self = cycle
        made_by_the_run = weakref.ref(cycle)
        del cycle
        release_freed_memory()
        assert made_by_the_run() is None
    assert gc.get_freeze_count() == 0
    assert any(kept is loaded for kept in gc.get_objects())


def test_the_daily_job_releases_memory_after_every_step(tmp_path: Path, small_sources: Path) -> None:
    settings = source_settings(tmp_path / "data", small_sources, SMALL.start)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(LOYALTY_DAILY_JOB)
    spend = dg.AssetKey(["back_office", "marketing_spend"])

    result = job.execute_in_process(asset_selection=[spend], partition_key=SMALL.start.isoformat())

    assert result.success
    released = {
        event.step_key
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.HOOK_COMPLETED
        and '"release_freed_memory_after_success"' in event.message
    }
    steps = {event.step_key for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_SUCCESS}
    # The extraction and its raw check.
    assert len(steps) == 2
    assert released == steps


def test_great_expectations_keeps_no_copy_of_a_validated_frame(tmp_path: Path) -> None:
    """GX's execution engine caches each asset's last batch for the life of the process, which kept the
    last chunk of every suite (up to a million rows each) in the run process while dbt worked beside it."""
    raw_suites = Path(__file__).resolve().parents[1] / "expectations" / "raw"
    suite = load_suite(raw_suites / "back_office__marketing_spend.json")
    rows = 12_347  # a length no other frame of this process has
    frame = pd.DataFrame(
        {
            "spend_date": pd.Timestamp("2026-01-01").date(),
            "program": "retention",
            "channel": "email",
            "amount": [float(i % 100) for i in range(rows)],
        }
    )
    assert validate_frame(frame, suite, docs_dir=tmp_path, run_name="memory").rows == rows
    del frame
    gc.collect()
    assert [kept for kept in gc.get_objects() if isinstance(kept, pd.DataFrame) and len(kept) == rows] == []


# The first partition of a shop with history takes all of it at once: 600,000 orders, read the way
# extraction reads them, with the peak resident memory above the start sampled while it reads.
SHOP_READ_SCRIPT = """
import datetime as dt, json, sqlite3, tempfile, threading, time
from pathlib import Path
import psutil
from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.partitions import daily_partitions
from loyalty_pipeline.resources import ShopDatabase
from loyalty_pipeline.settings import REPOSITORY_DBT_PROJECT_DIR
from loyalty_pipeline.sources.shop import read_shop_days

rows = 600_000
database = Path(tempfile.mkdtemp()) / "shop.sqlite"
with sqlite3.connect(database) as connection:
    connection.execute(
        "create table orders (order_id text, customer_id text, session_id text, ordered_at timestamp,"
        " status text, refunded_at timestamp, updated_at timestamp)"
    )
    connection.executemany(
        "insert into orders values (?, ?, null, '2025-06-01 10:00:00', 'completed', null, '2025-06-01 10:00:00')",
        ((f"o-{i:09d}", f"c-{i % 50_000:07d}") for i in range(rows)),
    )
orders = next(table for table in load_contract(REPOSITORY_DBT_PROJECT_DIR) if table.name == "orders")
window = daily_partitions(dt.date(2026, 1, 1), "UTC").time_window_for_partition_key("2026-01-01")
process = psutil.Process()
start = peak = process.memory_info().rss
reading = True

def sample():
    global peak
    while reading:
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.005)

sampler = threading.Thread(target=sample)
sampler.start()
days = read_shop_days(ShopDatabase(url=f"sqlite:///{database}"), orders, window, is_first=True)
reading = False
sampler.join()
frame = days[dt.date(2026, 1, 1)]
frame_mib = frame.memory_usage(deep=True).sum() / 2**20
print(json.dumps({"rows": len(frame), "frame": frame_mib, "peak": (peak - start) / 2**20}))
"""


def test_reading_a_shop_history_holds_one_batch_of_rows_as_python_objects() -> None:
    figures = figures_of(SHOP_READ_SCRIPT)
    assert figures["rows"] == 600_000
    # The frame is 67 MiB; the read peaked 637 MiB above its start in one fetch, 212 MiB in batches.
    assert figures["peak"] < 400, figures
