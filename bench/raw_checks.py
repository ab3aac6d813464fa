"""Seconds of every raw table's check over a built data folder, run alone through Dagster.

The full build checks each raw table over its whole range; this runs only those checks (no
extraction, no dbt) over a data folder that bench/pipeline.py built, in one process, so a
change to the checks can be measured before and after on the same raw store.

Run: .venv/bin/python bench/raw_checks.py --size M --work DIR [--out FILE]
(DIR is bench/pipeline.py's --work folder: its `data` and `sources`; the range is the full build's.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from pipeline import SIZES, pipeline_env

from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.settings import SOURCE_SYSTEMS, Settings


def measure(size: str, work: Path) -> dict[str, object]:
    """Run every raw check over the full build's days; seconds per check and what each judged."""
    config = SIZES[size]
    settings = Settings.from_env(pipeline_env(work / "data", work / "sources", config))
    definitions = build_definitions(settings)
    graph = definitions.resolve_asset_graph()
    checks = {key for key in graph.asset_check_keys if key.asset_key.path[0] in SOURCE_SYSTEMS}
    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=checks
    )
    first, last = config.start, config.start + dt.timedelta(days=config.days - 2)
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        )
    seconds = time.perf_counter() - started
    steps = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS
    }
    evaluations = {
        evaluation.asset_check_key.name: {
            "passed": evaluation.passed,
            "rows_validated": evaluation.metadata["rows_validated"].value,
        }
        for evaluation in result.get_asset_check_evaluations()
    }
    return {
        "size": size,
        "partitions": (last - first).days + 1,
        "seconds": round(seconds, 2),
        "check_seconds": round(sum(steps.values()), 2),
        "steps": steps,
        "checks": evaluations,
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="append the figures as a JSON line to this file")
    args = parser.parse_args()
    # The harness's runs give Dagster its instance in the data folder; this one needs none.
    os.environ.pop("DAGSTER_HOME", None)
    figures = measure(args.size, args.work)
    print(json.dumps(figures))
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
