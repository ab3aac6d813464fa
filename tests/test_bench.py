"""The benchmark harness runs at size S and reports every measurement (it judges no timing)."""

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.runner import raw_row_counts
from loyalty_pipeline.settings import Settings

HARNESS = Path(__file__).resolve().parents[1] / "bench" / "pipeline.py"
MEASUREMENTS = ("generate", "full_build", "daily_run", "daily_run_third_history", "dbt_build_alone", "pandas")
STAGES = ("extract", "dbt", "clv", "checks", "publish")


def _harness_module() -> ModuleType:
    """bench/pipeline.py as a module, for its step classification."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assets_per_step(data_dir: Path) -> dict[str, int]:
    """The assets each step of the daily job materialises, from the pipeline's definitions."""
    settings = Settings.from_env({"LOYALTY_DATA_DIR": str(data_dir)})
    return {
        asset.node_def.name: len(asset.keys)
        for asset in build_definitions(settings).assets
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable
    }


@pytest.mark.slow
def test_harness_measures_size_s_and_prints_the_table(tmp_path: Path) -> None:
    # Builds in chunks of 90 days, as L's are: the full build of 179 days takes two runs.
    harness_command = [sys.executable, str(HARNESS), "--size", "S", "--work", str(tmp_path / "work")]
    harness_command += ["--chunk-days", "90", "--results", str(tmp_path)]
    printed = subprocess.run(harness_command, capture_output=True, text=True, check=True).stdout

    figures = json.loads((tmp_path / "S.json").read_text())
    for name in (*MEASUREMENTS, "duckdb_floor"):
        assert figures[name]["seconds"] > 0, name
        assert figures[name]["peak_rss_mib"] > 0, name
    for run in ("full_build", "daily_run", "daily_run_third_history"):
        assert all(figures[run]["stages"][stage] > 0 for stage in STAGES), figures[run]["stages"]
    assert figures["duckdb_floor"]["rows"]["shop.orders"] > 0
    assert set(figures["pandas"]["max_abs_difference"]) == {
        "revenue",
        "mrr",
        "subscriber_churn_rate_30d",
        "nps_30d",
        "session_conversion_rate",
    }
    assert all(value > 0 for value in figures["ratios"].values()), figures["ratios"]
    # Dagster records one materialisation per asset and partition: a step records one event for
    # each asset it materialises in the daily run, and that many per partition in the full build
    # (per run for publishing, which is not partitioned).
    full, daily = figures["full_build"], figures["daily_run"]
    harness = _harness_module()
    assets_per_step = _assets_per_step(tmp_path / "work" / "data")
    assert set(daily["events"]) == set(full["events"]) == set(assets_per_step)
    for step, assets in assets_per_step.items():
        assert daily["events"][step] == assets, step
        per_asset = full["runs"] if harness.stage_of(step) == "publish" else full["partitions"]
        assert full["events"][step] == assets * per_asset, step
    assert set(full["dbt_model_seconds"]) == {"loyalty_dbt_models", "loyalty_dbt_models_after_clv"}
    assert all(seconds > 0 for seconds in full["dbt_model_seconds"].values())
    for name in (*MEASUREMENTS, "third_build"):
        assert f"| {name} |" in printed
    # Each chunk of a build has its own row, with the days it covered.
    assert [chunk["days"] for chunk in full["chunks"]] == ["2026-01-01 .. 2026-03-31", "2026-04-01 .. 2026-06-28"]
    # dbt alone builds in the same chunks, one invocation each with the chunk's window.
    alone = figures["dbt_build_alone"]
    assert [chunk["days"] for chunk in alone["chunks"]] == [chunk["days"] for chunk in full["chunks"]]
    assert alone["seconds"] == pytest.approx(sum(chunk["seconds"] for chunk in alone["chunks"]), abs=0.02)
    alone_rows = [f"| {chunk['days']} | {chunk['seconds']} | {chunk['peak_rss_mib']} |" for chunk in alone["chunks"]]
    assert all(row in printed for row in alone_rows)
    assert all(f"| {chunk['days']} | {chunk['seconds']} |" in printed for chunk in full["chunks"])

    # The raw checks alone over the same data folder: every raw table's check, on every row stored.
    out = tmp_path / "raw_checks.jsonl"
    checks_command = [sys.executable, str(HARNESS.with_name("raw_checks.py")), "--size", "S"]
    checks_command += ["--work", str(tmp_path / "work"), "--out", str(out)]
    printed = subprocess.run(checks_command, capture_output=True, text=True, check=True).stdout
    checks = json.loads(out.read_text())
    assert checks == json.loads(printed)
    assert checks["partitions"] == full["partitions"]
    assert set(checks["checks"]) == {step for step in assets_per_step if harness.stage_of(step) == "extract"}
    assert len(checks["steps"]) == len(checks["checks"])
    first = harness.SIZES["S"].start
    last = first + dt.timedelta(days=checks["partitions"] - 1)
    stored = raw_row_counts(Settings.from_env({"LOYALTY_DATA_DIR": str(tmp_path / "work" / "data")}), first, last)
    # Every stored row, and one row per partition for the reconciliation.
    assert {name: check["rows_validated"] for name, check in checks["checks"].items()} == {
        name.replace(".", "__"): rows + checks["partitions"] for name, rows in stored.items()
    }
    assert all(check["passed"] for check in checks["checks"].values()), checks["checks"]
    assert checks["check_seconds"] > 0

    # A harness cut short resumes: what it had measured is kept, what it had not is measured now.
    assert full["runs"] == len(full["chunks"]) == 2
    assert sum(chunk["partitions"] for chunk in full["chunks"]) == full["partitions"]
    progress_file = tmp_path / "work" / "progress.json"
    progress = json.loads(progress_file.read_text())
    first_chunk, second_chunk = sorted(name for name in progress if name.startswith("full_build_"))
    kept_log = tmp_path / "work" / f"{first_chunk}.log"
    kept_log_written = kept_log.stat().st_mtime_ns
    del progress[second_chunk], progress["daily_run_third_history"]
    progress_file.write_text(json.dumps(progress))
    subprocess.run(harness_command, capture_output=True, text=True, check=True)
    resumed = json.loads(progress_file.read_text())
    assert kept_log.stat().st_mtime_ns == kept_log_written
    assert {name: resumed[name] for name in progress} == progress
    assert resumed[second_chunk]["partitions"] == progress[first_chunk]["partitions"] - 1
    assert resumed["daily_run_third_history"]["seconds"] > 0
    assert json.loads((tmp_path / "S.json").read_text())["full_build"]["partitions"] == full["partitions"]
    # Measurements of other settings are not mixed in.
    other = subprocess.run([*harness_command, "--chunk-days", "30"], capture_output=True, text=True)
    assert other.returncode != 0
    assert "give this run another --work folder" in other.stderr


def test_the_harness_counts_the_run_a_chunk_started_not_a_run_it_closed() -> None:
    # What `loyalty-pipeline run` prints when it redoes a chunk whose command was killed.
    log = (
        "  closed interrupted run 11111111-1111-1111-1111-111111111111 (marked failed; this run redoes its work)\n"
        "  [1/1] partitions 2024-01-01 .. 2024-03-30: run 22222222-2222-2222-2222-222222222222\n"
    )
    assert _harness_module().RUN_ID.findall(log) == ["22222222-2222-2222-2222-222222222222"]


def test_event_log_benchmark_records_one_event_per_asset_and_partition(tmp_path: Path) -> None:
    out = tmp_path / "event_log.jsonl"
    event_log = HARNESS.with_name("event_log.py")
    command = [sys.executable, str(event_log), "--assets", "2", "--days", "5", "--out", str(out)]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    figures = json.loads(out.read_text())
    assert figures == json.loads(printed)
    assert (figures["storage"], figures["partitions"], figures["materialisation_events"]) == ("sqlite", 5, 10)
    assert figures["ms_per_event"] > 0
