"""Benchmark of the whole pipeline at a data size, side by side with `dbt build` alone, pandas and DuckDB.

For a size (S: the demo; M: 100,000 customers over 2 years; L: 1,000,000 over 3 years) it
generates the sources, then measures, each as its own process whose tree's peak memory is sampled:

1. the full history build (`loyalty-pipeline run` over every day but the last, one run),
2. `dbt build` alone over the same raw store and the same days, in the build's chunks,
3. bench/pandas_kpis.py (five KPIs the way a small team would script them; its numbers are
   compared with the pipeline's kpi_daily),
4. bench/duckdb_floor.py (one scan of every raw table: the floor),
5. the daily run of the last day on top of the full build,
6. the same daily run with a third of the history: a second data folder whose first partition
   is a third of the period before the last day, built up to the day before it, then the daily
   run of the same last day. Both daily runs read the same deliveries of the same day; only the
   history in the warehouse differs. (The generated business grows: the day after the first
   third of the period has half the sessions and a third of the orders of the last day, so a
   daily run there measures the growth, not the history.)

At L, where the pandas script does not run, 2 and 4 come last, after the pipeline's own runs
that the targets are about (dbt alone still reads only the days before the last; the floor
then scans one more day of deliveries).

Seconds per stage (extract, dbt, clv, checks, publish) come from the runs' Dagster step
events; what is left of a run's time is orchestration. Writes bench/results/<size>.json and
prints a Markdown table.

A build of several chunks (L: 90 days each) runs one process per chunk. With `--work DIR`
every finished measurement, and every finished chunk of a build, is kept in DIR/progress.json:
the same command again resumes after the last one (L takes hours; a machine that stops midway
loses one chunk, which runs again from its start: runs are idempotent). Each measurement
records the commit it ran at and the load average around it, since a resumed run may span
code changes and a shared machine. The pandas script runs at S and M only (its target is at
M; at L its raw tables would not fit in memory).

Run: make bench SIZE=S|M|L, or .venv/bin/python bench/pipeline.py --size M [--work DIR] [--results DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pandas as pd
import psutil

from loyalty_pipeline.generator import GeneratorConfig
from loyalty_pipeline.partitions import chunks
from loyalty_pipeline.resources import Warehouse
from loyalty_pipeline.settings import REPOSITORY_DBT_PROJECT_DIR, SOURCE_SYSTEMS, Settings
from loyalty_pipeline.transform import DBT_BUILD

BENCH_DIR = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
# M and L end in the past, like the demo: extraction quarantines records stamped in the future.
SIZES = {
    "S": GeneratorConfig(),  # the demo's sources
    "M": dataclasses.replace(GeneratorConfig(), customers=100_000, days=730, start=dt.date(2024, 1, 1)),
    "L": dataclasses.replace(GeneratorConfig(), customers=1_000_000, days=1095, start=dt.date(2023, 1, 1)),
}
# Days per Dagster run of a build: S and M in one run like the demo; L's raw deliveries of a
# whole period would not fit in memory at once, so it is backfilled in chunks like `run` does.
CHUNK_DAYS = {"S": SIZES["S"].days, "M": SIZES["M"].days, "L": 90}
PANDAS_SIZES = {"S", "M"}
PANDAS_KPIS = ("revenue", "mrr", "subscriber_churn_rate_30d", "nps_30d", "session_conversion_rate")
SAMPLE_SECONDS = 0.2
MIB = 1024 * 1024
# The run a chunk started (runner.py's progress line), not one it closed for a killed command.
RUN_ID = re.compile(r"partitions \S+ \.\. \S+: run ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# Step keys of the pipeline that are not extraction, dbt or checks.
CLV_STEPS = {"predicted_clv"}
PUBLISH_STEPS = {"publish_kpis", "reports__kpi_report"}


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 for those already gone)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(command: Sequence[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Run a command to its end; its seconds, the peak RSS of its process tree (sampled) and the load around it."""
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    with log.open("w") as output:
        process = psutil.Popen(list(command), env=env, stdout=output, stderr=subprocess.STDOUT)
        peak = 0
        try:
            while process.poll() is None:
                with suppress(psutil.Error):  # the process may end between two calls
                    peak = max(peak, tree_rss(process))
                time.sleep(SAMPLE_SECONDS)
        finally:
            # A harness stopped (Ctrl-C) stops its measurement: a run left going would hold
            # the data folder's run lock, and the resumed harness could not run it again. The run
            # and dbt finish their current step on SIGTERM, so what is left after a grace period
            # is killed; the next run closes the run it leaves in progress.
            if process.poll() is None:
                with suppress(psutil.Error):
                    members = [*process.children(recursive=True), process]  # dbt too, not only the run
                    for member in members:
                        member.terminate()
                    _, alive = psutil.wait_procs(members, timeout=10)
                    for member in alive:
                        member.kill()
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); see {log}")
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak / MIB, 1), "load_average": load}


def pipeline_env(data_dir: Path, sources: Path, config: GeneratorConfig) -> dict[str, str]:
    """The environment of a pipeline run over the generated sources, its Dagster instance in data_dir."""
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env.update(
        LOYALTY_DATA_DIR=str(data_dir),
        LOYALTY_SHOP_DB_URL=f"sqlite:///{sources / 'shop.sqlite'}",
        LOYALTY_LANDING_DIR=str(sources / "landing"),
        LOYALTY_START_DATE=config.start.isoformat(),
        GX_ANALYTICS_ENABLED="false",
    )
    return env


def stage_of(step_key: str) -> str:
    """The stage a step of the loyalty_daily job belongs to."""
    if step_key in CLV_STEPS:
        return "clv"
    if step_key in PUBLISH_STEPS:
        return "publish"
    if step_key.startswith("loyalty_dbt_models"):
        return "dbt"
    if step_key.split("__")[0] in SOURCE_SYSTEMS and step_key.count("__") == 1:
        return "extract"
    return "checks"


def step_figures(data_dir: Path, run_id: str) -> dict[str, dict[str, float]]:
    """Per step of a finished run, from its event log: seconds from STEP_START to STEP_SUCCESS,
    materialisation events recorded, and for a dbt step the seconds dbt reported building its models.

    A step over a partition range records one materialisation per asset and partition; dbt's
    own time of a model is the same on each of them, so it is counted once per model.
    """
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(data_dir / "dagster_home"))
    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
    }
    started: dict[str, float] = {}
    figures: dict[str, dict[str, float]] = {"seconds": {}, "events": {}}
    dbt_models: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        step, kind = entry.step_key, entry.dagster_event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            started[step] = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            figures["seconds"][step] = round(entry.timestamp - started[step], 2)
        else:
            figures["events"][step] = figures["events"].get(step, 0) + 1
            materialization = entry.dagster_event.event_specific_data.materialization
            duration = materialization.metadata.get("Execution Duration")
            if duration is not None:
                dbt_models.setdefault(step, {})[materialization.asset_key.to_user_string()] = duration.value
    figures["dbt_model_seconds"] = {step: round(sum(models.values()), 2) for step, models in dbt_models.items()}
    return figures


def add_into(totals: dict[str, float], more: dict[str, float]) -> None:
    """Add a run's figures per step to the totals of a build made of several runs."""
    for key, value in more.items():
        totals[key] = round(totals.get(key, 0) + value, 2)


def run_pipeline(
    data_dir: Path, sources: Path, config: GeneratorConfig, days: tuple[dt.date, dt.date], name: str
) -> dict[str, object]:
    """`loyalty-pipeline run` over the days (first, last) in one run: seconds, memory, seconds by stage and
    step, and the materialisation events each step recorded."""
    first, last = days
    log = data_dir.parent / f"{name}.log"
    command = [str(BIN / "loyalty-pipeline"), "run", "--start", first.isoformat(), "--end", last.isoformat()]
    command += ["--chunk-days", str((last - first).days + 1)]
    figures = measure(command, pipeline_env(data_dir, sources, config), log)
    run_ids = list(dict.fromkeys(RUN_ID.findall(log.read_text())))
    steps: dict[str, float] = {}
    events: dict[str, float] = {}
    dbt_model_seconds: dict[str, float] = {}
    for run_id in run_ids:
        run = step_figures(data_dir, run_id)
        add_into(steps, run["seconds"])
        add_into(events, run["events"])
        add_into(dbt_model_seconds, run["dbt_model_seconds"])
    stages = dict.fromkeys(("extract", "dbt", "clv", "checks", "publish"), 0.0)
    for key, seconds in steps.items():
        stages[stage_of(key)] += seconds
    stages["orchestration"] = figures["seconds"] - sum(stages.values())
    return {
        **figures,
        "partitions": (last - first).days + 1,
        "runs": len(run_ids),
        "stages": {stage: round(seconds, 2) for stage, seconds in stages.items()},
        "steps": steps,
        "materialisation_events": sum(events.values()),
        "events": events,
        "dbt_model_seconds": dbt_model_seconds,
    }


def combine(parts: Sequence[dict], spans: Sequence[tuple[dt.date, dt.date]]) -> dict[str, object]:
    """The figures of a build run in chunks (their first and last days in `spans`): times, partitions, runs
    and events added, memory the peak, and each chunk's own figures with the commit it ran at."""
    total: dict = {
        "seconds": round(sum(part["seconds"] for part in parts), 2),
        "peak_rss_mib": max(part["peak_rss_mib"] for part in parts),
        "load_average": [parts[0]["load_average"][0], parts[-1]["load_average"][1]],
    }
    # A pipeline run's figures; `dbt build` alone has none of them.
    for key in ("partitions", "runs", "materialisation_events"):
        if key in parts[0]:
            total[key] = sum(part[key] for part in parts)
    for key in ("stages", "steps", "events", "dbt_model_seconds"):
        if key in parts[0]:
            total[key] = {}
            for part in parts:
                add_into(total[key], part[key])
    chunk_keys = ("seconds", "peak_rss_mib", "partitions", "stages", "load_average", "commit")
    total["chunks"] = [
        {"days": f"{first} .. {last}", **{key: part[key] for key in chunk_keys if key in part}}
        for part, (first, last) in zip(parts, spans, strict=True)
    ]
    total["commits"] = list(dict.fromkeys(part.get("commit") for part in parts))
    return total


class Progress:
    """The measurements already taken in a work folder (DIR/progress.json), so that a harness cut short
    resumes after the last one finished instead of starting again."""

    def __init__(self, path: Path, identity: dict[str, object]) -> None:
        self.path = path
        self.taken: dict = json.loads(path.read_text()) if path.exists() else {"identity": identity}
        if self.taken["identity"] != identity:
            raise SystemExit(
                f"{path} holds measurements of {self.taken['identity']}, not of {identity}: "
                "give this run another --work folder"
            )

    def measured(self, name: str, take: Callable[[], dict]) -> dict:
        """The figures of the measurement `name`: taken before, or taken now and kept at once."""
        if name not in self.taken:
            ran_at = commit()  # before: the tree may change while a long measurement runs
            figures = take()
            figures["commit"] = ran_at
            self.taken[name] = figures
            staged = self.path.with_suffix(".tmp")
            with staged.open("w") as out:
                out.write(json.dumps(self.taken, indent=2) + "\n")
                out.flush()
                os.fsync(out.fileno())
            staged.replace(self.path)  # a harness killed while writing leaves the last complete file
        return self.taken[name]


def commit() -> str | None:
    """The commit of the working tree the measurement ran at ("+" when it had uncommitted changes), if known."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH_DIR)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=BENCH_DIR)
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def build(
    progress: Progress,
    name: str,
    data_dir: Path,
    sources: Path,
    config: GeneratorConfig,
    days: tuple[dt.date, dt.date],
    chunk_days: int,
) -> dict[str, object]:
    """A build over the days, one process per chunk, each chunk kept in the progress once it finished."""
    parts = []
    spans = list(chunks(*days, chunk_days))
    for first, last in spans:
        part = f"{name}_{first.isoformat()}_{last.isoformat()}"
        take = functools.partial(run_pipeline, data_dir, sources, config, (first, last), part)
        parts.append(progress.measured(part, take))
    return combine(parts, spans)


def dbt_build_alone(
    progress: Progress,
    data_dir: Path,
    work: Path,
    config: GeneratorConfig,
    days: tuple[dt.date, dt.date],
    chunk_days: int,
) -> dict:
    """`dbt build` of the same project over the same raw store and days, into a warehouse of its own, in the
    build's chunks: one invocation per chunk with the chunk's window, as each of the build's runs has."""
    alone = work / "dbt_alone"
    alone.mkdir(parents=True, exist_ok=True)
    for folder in ("raw", "clv"):
        link = alone / folder
        if not link.exists():
            link.symlink_to(data_dir / folder)
    # The variables the pipeline's dbt steps get, from the same settings.
    settings = Settings.from_env(pipeline_env(alone, work / "sources", config))
    warehouse = Warehouse(
        data_dir=str(alone),
        start_date=settings.start_date.isoformat(),
        lookback_days=settings.lookback_days,
        timezone=settings.timezone,
        disabled_sources=sorted(settings.disabled_sources),
    )
    (alone / "warehouse").mkdir(exist_ok=True)
    dbt_vars = json.dumps(warehouse.dbt_vars())
    project = REPOSITORY_DBT_PROJECT_DIR
    command = [str(BIN / "dbt"), *DBT_BUILD, "--vars", dbt_vars, "--project-dir", str(project)]
    command += ["--profiles-dir", str(project), "--target-path", str(alone / "target"), "--log-path", str(alone)]
    spans = list(chunks(*days, chunk_days))
    names = ["dbt_build_alone"] if len(spans) == 1 else [f"dbt_build_alone_{first}_{last}" for first, last in spans]
    if names[0] not in progress.taken:
        # Start from an empty warehouse: one left by an earlier attempt would make the first chunk incremental.
        for stale in (alone / "warehouse").glob("loyalty.duckdb*"):
            if stale.is_dir():
                shutil.rmtree(stale)  # DuckDB's spill folder
            else:
                stale.unlink()
    parts = []
    for name, (first, last) in zip(names, spans, strict=True):
        env = {**os.environ, "LOYALTY_DATA_DIR": str(alone), **warehouse.dbt_window(str(first), str(last))}
        span = name.removeprefix("dbt_build_alone")
        take = functools.partial(measure, command, env, work / f"dbt_alone{span}.log")
        parts.append(progress.measured(name, take))
    return parts[0] if len(spans) == 1 else combine(parts, spans)


def pandas_script(data_dir: Path, work: Path, first: dt.date, last: dt.date) -> dict:
    """bench/pandas_kpis.py over the raw store, and its largest difference from the pipeline's kpi_daily."""
    output = work / "pandas_kpis.parquet"
    command = [sys.executable, str(BENCH_DIR / "pandas_kpis.py"), str(data_dir / "raw"), first.isoformat()]
    command += [last.isoformat(), str(output)]
    figures = measure(command, dict(os.environ), work / "pandas.log")
    with duckdb.connect(str(data_dir / "warehouse" / "loyalty.duckdb"), read_only=True) as connection:
        pipeline = connection.execute(
            "select date, kpi, value from kpi_daily where segment_type = 'all' and kpi in "
            f"({', '.join('?' for _ in PANDAS_KPIS)}) and date between ? and ?",
            [*PANDAS_KPIS, first, last],
        ).df()
    ours = pd.read_parquet(output)
    ours["date"] = pd.to_datetime(ours["date"])
    pipeline["date"] = pd.to_datetime(pipeline["date"])
    both = pipeline.merge(ours, on=["date", "kpi"], how="outer", suffixes=("_pipeline", "_pandas"))
    difference = (both["value_pipeline"] - both["value_pandas"]).abs()
    one_sided = both["value_pipeline"].isna() != both["value_pandas"].isna()
    figures["max_abs_difference"] = {
        kpi: float(difference[both["kpi"] == kpi].max()) for kpi in PANDAS_KPIS if (both["kpi"] == kpi).any()
    }
    figures["values_on_one_side_only"] = int(one_sided.sum())
    return figures


def duckdb_floor(data_dir: Path, work: Path) -> dict:
    """bench/duckdb_floor.py: one scan of every raw table."""
    log = work / "duckdb_floor.log"
    figures = measure(
        [sys.executable, str(BENCH_DIR / "duckdb_floor.py"), str(data_dir / "raw")], dict(os.environ), log
    )
    figures["rows"] = json.loads(log.read_text().strip().splitlines()[-1])
    return figures


def generate(config: GeneratorConfig, sources: Path, work: Path) -> dict:
    """`loyalty-pipeline generate`: the sources of the size, timed like the rest."""
    command = [str(BIN / "loyalty-pipeline"), "generate", "--customers", str(config.customers)]
    command += ["--days", str(config.days), "--seed", str(config.seed), "--start", config.start.isoformat()]
    command += ["--out", str(sources)]
    return measure(command, dict(os.environ), work / "generate.log")


def ratios(figures: dict) -> dict[str, float]:
    """The issue's targets as measured ratios and sizes."""
    full = figures["full_build"]
    daily = figures["daily_run"]
    pipeline_peak = max(full["peak_rss_mib"], daily["peak_rss_mib"])
    # What dbt alone does not do: extraction and the predicted-CLV fits.
    orchestrated_dbt = full["seconds"] - full["stages"]["extract"] - full["stages"]["clv"]
    measured = {
        "daily_run_full_vs_third_history": round(daily["seconds"] / figures["daily_run_third_history"]["seconds"], 2),
        "pipeline_peak_rss_gib": round(pipeline_peak / 1024, 2),
        "orchestration_and_checks_vs_dbt_build": round(orchestrated_dbt / figures["dbt_build_alone"]["seconds"], 2),
    }
    if "pandas" in figures:
        measured["pandas_vs_daily_run"] = round(figures["pandas"]["seconds"] / daily["seconds"], 2)
    return measured


def markdown(figures: dict) -> str:
    """The measurements as a Markdown table, then the ratios."""
    stages = ("extract", "dbt", "clv", "checks", "publish", "orchestration")
    lines = [
        f"### Size {figures['size']}: {figures['customers']:,} customers over {figures['days']} days",
        "",
        "| measurement | seconds | peak RSS (MiB) | " + " | ".join(stages) + " | materialisation events |",
        "|---|---:|---:|" + "---:|" * (len(stages) + 1),
    ]
    for name in (
        "generate",
        "full_build",
        "daily_run",
        "third_build",
        "daily_run_third_history",
        "dbt_build_alone",
        "pandas",
        "duckdb_floor",
    ):
        if name not in figures:
            lines.append(f"| {name} | not run at this size |  |" + "  |" * (len(stages) + 1))
            continue
        row = figures[name]
        cells = [str(row.get("stages", {}).get(stage, "")) for stage in stages]
        cells.append(str(row.get("materialisation_events", "")))
        lines.append(f"| {name} | {row['seconds']} | {row['peak_rss_mib']} | " + " | ".join(cells) + " |")
    for name in ("full_build", "third_build"):
        if len(figures[name]["chunks"]) > 1:
            lines += ["", f"{name} by chunk (one process each):", ""]
            lines += ["| days | seconds | peak RSS (MiB) | " + " | ".join(stages) + " | load before, after | commit |"]
            lines += ["|---|---:|---:|" + "---:|" * len(stages) + "---|---|"]
            for chunk in figures[name]["chunks"]:
                cells = [str(chunk["stages"].get(stage, "")) for stage in stages]
                load = ", ".join(str(value) for value in chunk["load_average"])
                lines.append(
                    f"| {chunk['days']} | {chunk['seconds']} | {chunk['peak_rss_mib']} | "
                    + " | ".join(cells)
                    + f" | {load} | {chunk['commit']} |"
                )
    alone = figures.get("dbt_build_alone", {})
    if len(alone.get("chunks", [])) > 1:
        lines += ["", "dbt_build_alone by chunk, beside the full build's chunk without extraction and CLV:", ""]
        lines += ["| days | dbt alone: seconds | peak RSS (MiB) | full build without extract, clv | ratio | commit |"]
        lines += ["|---|---:|---:|---:|---:|---|"]
        for chunk, built in zip(alone["chunks"], figures["full_build"]["chunks"], strict=True):
            orchestrated = built["seconds"] - built["stages"]["extract"] - built["stages"]["clv"]
            lines.append(
                f"| {chunk['days']} | {chunk['seconds']} | {chunk['peak_rss_mib']} | {orchestrated:.2f} | "
                f"{orchestrated / chunk['seconds']:.2f} | {chunk['commit']} |"
            )
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in figures["ratios"].items()]
    if "pandas" in figures:
        differences = ", ".join(f"{kpi} {value:.3g}" for kpi, value in figures["pandas"]["max_abs_difference"].items())
        lines += ["", f"pandas vs pipeline, largest difference per KPI: {differences}"]
    return "\n".join(lines)


@contextmanager
def work_folder(path: Path | None) -> Iterator[Path]:
    """The given folder (kept), or a temporary one."""
    if path:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as temporary:
        yield Path(temporary)


def bench(size: str, work: Path, chunk_days: int) -> dict:
    """Every measurement of one size, in order, on one generated data set; those taken before in `work` are kept."""
    from loyalty_pipeline.transform import prepare_dbt_manifest

    config = SIZES[size]
    sources, data_dir, short_dir = work / "sources", work / "data", work / "third" / "data"
    for folder in (data_dir, short_dir):
        folder.mkdir(parents=True, exist_ok=True)
    last = config.start + dt.timedelta(days=config.days - 1)
    # The short history starts a third of the period before the last day (its first partition
    # also takes every earlier version of the shop's tables, as a deployment starting then would).
    short = dataclasses.replace(config, start=last - dt.timedelta(days=config.days // 3))
    prepare_dbt_manifest(REPOSITORY_DBT_PROJECT_DIR)
    load_at_start = round(os.getloadavg()[1], 1)
    figures: dict = {"size": size, "customers": config.customers, "days": config.days, "seed": config.seed}
    figures["chunk_days"] = chunk_days
    progress = Progress(work / "progress.json", dict(figures))
    figures["generate"] = progress.measured("generate", lambda: generate(config, sources, work))
    previous_day = last - dt.timedelta(days=1)
    history = (config.start, previous_day)
    figures["full_build"] = build(progress, "full_build", data_dir, sources, config, history, chunk_days)

    def comparisons() -> None:
        figures["dbt_build_alone"] = dbt_build_alone(progress, data_dir, work, config, history, chunk_days)
        if size in PANDAS_SIZES:
            figures["pandas"] = progress.measured(
                "pandas", lambda: pandas_script(data_dir, work, config.start, previous_day)
            )
        figures["duckdb_floor"] = progress.measured("duckdb_floor", lambda: duckdb_floor(data_dir, work))

    # The pandas script reads every raw file, so it runs before the daily run adds the last day's;
    # without it (L, hours long) the pipeline's own runs come first.
    if size in PANDAS_SIZES:
        comparisons()
    figures["daily_run"] = progress.measured(
        "daily_run", lambda: run_pipeline(data_dir, sources, config, (last, last), "daily_run")
    )
    figures["third_build"] = build(
        progress, "third_build", short_dir, sources, short, (short.start, previous_day), chunk_days
    )
    figures["daily_run_third_history"] = progress.measured(
        "daily_run_third_history",
        lambda: run_pipeline(short_dir, sources, short, (last, last), "third_daily_run"),
    )
    if size not in PANDAS_SIZES:
        comparisons()
    figures["ratios"] = ratios(figures)
    figures["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        # The machine may be shared: its load while the benchmark ran inflates every time.
        "load_average_at_start_and_end": [load_at_start, round(os.getloadavg()[1], 1)],
    }
    return figures


def main() -> None:
    """Run the benchmark of one size, write its JSON and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--work", type=Path, help="folder for the data and logs, kept (default: a temporary one)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results", help="folder of <size>.json")
    parser.add_argument("--chunk-days", type=int, help="days per Dagster run of a build (default: by size)")
    args = parser.parse_args()
    with work_folder(args.work) as work:
        figures = bench(args.size, work.resolve(), args.chunk_days or CHUNK_DAYS[args.size])
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.size}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(markdown(figures))


if __name__ == "__main__":
    main()
