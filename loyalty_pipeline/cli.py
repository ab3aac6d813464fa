"""`loyalty-pipeline`: generate demo sources, run a partition range, or run the whole demo."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import time
from pathlib import Path

from loyalty_pipeline.errors import PipelineError, SettingsError
from loyalty_pipeline.generator import GeneratorConfig, generate
from loyalty_pipeline.settings import Settings

DEMO = GeneratorConfig()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from error


def _print_summary(settings: Settings, start: dt.date, end: dt.date, seconds: float, run_count: int) -> None:
    from loyalty_pipeline.runner import published_row_counts, quarantined_row_counts, raw_row_counts

    print(
        f"\nDone: {(end - start).days + 1} daily partitions ({start} .. {end}) in {run_count} Dagster run(s), "
        f"{seconds:.0f}s."
    )
    print("Rows extracted per source table:")
    for table, count in raw_row_counts(settings, start, end).items():
        print(f"  {table:<32} {count:>10,}")
    quarantined = quarantined_row_counts(settings)
    if quarantined:
        print("Rows quarantined (broke a row rule, left out of the KPIs):")
        for table, count in quarantined.items():
            print(f"  {table:<32} {count:>10,}")
    print("Published KPI tables (DuckDB, schema kpi), checked by every blocking quality check:")
    for table, count in published_row_counts(settings).items():
        print(f"  {table:<32} {count:>10,}")
    print(f"KPIs for BI:    {settings.serving_path}  (open read-only; replaced atomically by each publish)")
    print(f"KPI report:     {settings.report_path}  (opens in a browser, no internet needed)")
    print(f"Warehouse:      {settings.warehouse_path}  (the pipeline's own; BI reads the file above)")
    print(f"Raw store:      {settings.raw_dir}")
    print(f"Quarantine:     {settings.quarantine_dir}")
    print(f"Dagster runs:   {settings.dagster_home}  (make dev, then http://127.0.0.1:3000)")


def cmd_generate(args: argparse.Namespace) -> int:
    config = GeneratorConfig(customers=args.customers, days=args.days, seed=args.seed, start=args.start)
    began = time.monotonic()
    print(f"Generating {config.customers:,} customers over {config.days} days from {config.start} (seed {config.seed})")
    counts = generate(config, Path(args.out), shop_db_url=args.shop_db_url)
    for table, count in counts.items():
        print(f"  {table:<24} {count:>10,}")
    print(f"Written to {Path(args.out).resolve()} in {time.monotonic() - began:.1f}s")
    return 0


def cmd_suites(_: argparse.Namespace) -> int:
    from loyalty_pipeline.contract import load_contract
    from loyalty_pipeline.quality.suites import write_raw_suites

    settings = Settings.from_env()
    changed = write_raw_suites(settings.expectations_dir, load_contract(settings.dbt_project_dir))
    for path in changed:
        print(f"updated {path}")
    print(f"{len(changed)} suite(s) changed; review the diff before committing")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    # Dagster and dbt take seconds to import: only the commands that run them pay for it.
    from loyalty_pipeline.runner import run_range
    from loyalty_pipeline.transform import prepare_dbt_manifest

    settings = Settings.from_env()
    prepare_dbt_manifest(settings.dbt_project_dir)
    print(f"Materialising partitions {args.start} .. {args.end} through Dagster")
    summary = run_range(settings, args.start, args.end, chunk_days=args.chunk_days)
    _print_summary(settings, args.start, args.end, summary.seconds, len(summary.run_ids))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from loyalty_pipeline.runner import run_range
    from loyalty_pipeline.transform import prepare_dbt_manifest

    began = time.monotonic()
    # The demo reads the sources it generates, whatever LOYALTY_SHOP_DB_URL / LOYALTY_LANDING_DIR say.
    settings = dataclasses.replace(Settings.from_env(), shop_db_url=None, landing_dir=None, shop_db_url_env_var=None)
    config = GeneratorConfig(customers=args.customers, days=args.days, seed=args.seed, start=settings.start_date)
    print(
        f"[1/3] Generating demo sources: {config.customers:,} customers over {config.days} days "
        f"from {config.start} into {settings.demo_sources_dir}"
    )
    generate(config, settings.demo_sources_dir)
    print("[2/3] Preparing the dbt manifest (dbt parse)")
    prepare_dbt_manifest(settings.dbt_project_dir)
    end = config.start + dt.timedelta(days=config.days - 1)
    print(f"[3/3] Materialising {config.days} daily partitions through Dagster")
    # One run by default: the generated shop database holds only each record's final version,
    # so an earlier chunk would not see records that change after its last day.
    summary = run_range(settings, config.start, end, chunk_days=args.chunk_days or config.days)
    _print_summary(settings, config.start, end, time.monotonic() - began, len(summary.run_ids))
    return 0


def cmd_load_postgres(args: argparse.Namespace) -> int:
    from loyalty_pipeline.contract import load_contract, load_pipeline_outputs
    from loyalty_pipeline.resources import redact_url
    from loyalty_pipeline.warehouse_postgres import load_outputs_to_postgres, load_raw_to_postgres, url_from_profile_env

    settings = Settings.from_env()
    url = url_from_profile_env(os.environ)
    if (args.start is None) != (args.end is None):
        raise SettingsError("give both --start and --end, or neither (every partition)")
    days = None
    if args.start is not None:
        days = [args.start + dt.timedelta(days=offset) for offset in range((args.end - args.start).days + 1)]
    tables = [table for table in load_contract(settings.dbt_project_dir) if settings.is_enabled(table.source)]
    began = time.monotonic()
    print(f"Loading the raw store {settings.raw_dir} into {redact_url(url)}")
    summary = load_raw_to_postgres(settings.raw_dir, url, tables, partitions=days, force=args.force)
    for table, load in summary.items():
        print(
            f"  raw_{table:<32} {load.rows_loaded:>10,} rows from {load.partitions_loaded} partitions"
            f" ({load.partitions_skipped} unchanged, {load.partitions_removed} removed)"
        )
    if settings.is_enabled("shop"):
        outputs = load_outputs_to_postgres(settings.data_dir, url, load_pipeline_outputs(settings.dbt_project_dir))
        for table, rows in outputs.items():
            print(f"  raw_{table:<32} {rows:>10,} rows (replaced)")
    print(f"Done in {time.monotonic() - began:.1f}s; next: dbt build --target postgres (docs/warehouse-postgres.md)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write demo source systems (shop database and landing files)")
    gen.add_argument("--customers", type=int, default=DEMO.customers)
    gen.add_argument("--days", type=int, default=DEMO.days)
    gen.add_argument("--seed", type=int, default=DEMO.seed)
    gen.add_argument("--start", type=_date, default=DEMO.start, help="first day of the period (default %(default)s)")
    gen.add_argument("--out", required=True, help="folder to write shop.sqlite and landing/ into")
    gen.add_argument("--shop-db-url", help="write the shop tables to this SQLAlchemy URL instead of SQLite")
    gen.set_defaults(handler=cmd_generate)

    run = commands.add_parser("run", help="materialise the partitions START..END (inclusive) through Dagster")
    run.add_argument("--start", type=_date, required=True)
    run.add_argument("--end", type=_date, required=True)
    run.add_argument("--chunk-days", type=int, default=30, help="partitions per Dagster run (default %(default)s)")
    run.set_defaults(handler=cmd_run)

    suites = commands.add_parser(
        "suites", help="rewrite the contract part of the raw Great Expectations suites from the source contract"
    )
    suites.set_defaults(handler=cmd_suites)

    demo = commands.add_parser("demo", help="generate demo sources and materialise the whole demo period")
    demo.add_argument("--customers", type=int, default=DEMO.customers)
    demo.add_argument("--days", type=int, default=DEMO.days)
    demo.add_argument("--seed", type=int, default=DEMO.seed)
    demo.add_argument(
        "--chunk-days",
        type=int,
        help="partitions per Dagster run (default: the whole period in one run, which sees every record)",
    )
    demo.set_defaults(handler=cmd_demo)

    load = commands.add_parser(
        "load-postgres",
        help="copy the raw store into PostgreSQL (LOYALTY_PG_* variables) for dbt's postgres target",
    )
    load.add_argument("--start", type=_date, help="first partition to (re)load (default: every partition)")
    load.add_argument("--end", type=_date, help="last partition to (re)load")
    load.add_argument("--force", action="store_true", help="reload partitions that look unchanged too")
    load.set_defaults(handler=cmd_load_postgres)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (PipelineError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
