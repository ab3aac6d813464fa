"""What Dagster's event log costs per materialisation event, apart from any work.

A full build records one materialisation per asset and daily partition (about 21,000 at M),
and the orchestration overhead of bench/pipeline.py's full build is mostly those writes. This
materialises do-nothing daily-partitioned assets over a range of partitions in one run, with
the project's instance settings (config/dagster.yaml), and prints milliseconds per event.

`--postgres-url` measures the same with Dagster's PostgreSQL storage instead of SQLite: it
needs `dagster-postgres` of the pinned Dagster release (0.29.27), which is not a dependency
of the project, and a SQLAlchemy URL with the psycopg2 driver (`postgresql+psycopg2://...`).

Run: .venv/bin/python bench/event_log.py [--assets 2] [--days 365] [--postgres-url URL] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "config" / "dagster.yaml"
POSTGRES_STORAGE = """
storage:
  postgres:
    postgres_url:
      env: LOYALTY_BENCH_DAGSTER_POSTGRES_URL
"""
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


def chain_of_assets(count: int) -> list[dg.AssetsDefinition]:
    """`count` assets, each depending on the one before, doing nothing with each partition range."""
    assets: list[dg.AssetsDefinition] = []
    for index in range(count):

        @dg.asset(
            name=f"step_{index}",
            partitions_def=PARTITIONS,
            backfill_policy=dg.BackfillPolicy.single_run(),
            deps=assets[-1:],
        )
        def _nothing() -> None:
            return None

        assets.append(_nothing)
    return assets


def measure(assets: int, days: int, postgres_url: str | None) -> dict[str, object]:
    """Seconds of one run over `days` partitions, and milliseconds per materialisation event."""
    # As the project's runs do (loyalty_pipeline.runner): one planned event per asset, not per partition.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    with tempfile.TemporaryDirectory(prefix="event-log-bench-") as home:
        settings = INSTANCE_TEMPLATE.read_text()
        if postgres_url:
            os.environ["LOYALTY_BENCH_DAGSTER_POSTGRES_URL"] = postgres_url
            settings += POSTGRES_STORAGE
        Path(home, "dagster.yaml").write_text(settings)
        with dg.DagsterInstance.from_config(home) as instance:
            keys = PARTITIONS.get_partition_keys()[:days]
            started = time.perf_counter()
            result = dg.materialize(
                chain_of_assets(assets),
                instance=instance,
                tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            )
            seconds = time.perf_counter() - started
    events = len(result.get_asset_materialization_events())
    return {
        "storage": "postgres" if postgres_url else "sqlite",
        "assets": assets,
        "partitions": len(keys),
        "materialisation_events": events,
        "seconds": round(seconds, 2),
        "ms_per_event": round(1000 * seconds / events, 1),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=2)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--postgres-url")
    parser.add_argument("--out", type=Path, help="append the figures as a JSON line to this file")
    args = parser.parse_args()
    figures = measure(args.assets, args.days, args.postgres_url)
    print(json.dumps(figures))
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
