"""One Dagster asset per contract table: read a partition range, conform it, land it in raw."""

import datetime as dt
from collections.abc import Callable, Mapping

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from loyalty_pipeline.contract import ContractTable
from loyalty_pipeline.partitions import partition_days
from loyalty_pipeline.quality.raw import partition_bounds, split_deliveries, write_quarantine
from loyalty_pipeline.quality.suites import load_suite, raw_suite_name, suite_path
from loyalty_pipeline.resources import DataQuality, RawStore
from loyalty_pipeline.sources.conform import SourceContractError, conform
from loyalty_pipeline.sources.raw_store import write_partition

# Reads the deliveries of a partition window from a source system: (resource, table, window,
# first partition of all?) -> one raw frame per reporting day, every day of the window present.
DayReader = Callable[[object, ContractTable, dg.TimeWindow, bool], Mapping[dt.date, pd.DataFrame]]

_DAGSTER_TYPES = {
    "varchar": "string",
    "timestamp": "timestamp",
    "date": "date",
    "integer": "int",
    "decimal": "decimal(18,4)",
    "boolean": "bool",
}


def table_schema(table: ContractTable) -> dg.TableSchema:
    """The contract's columns as a Dagster table schema, shown in the asset's UI page."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=_DAGSTER_TYPES[column.type],
                constraints=dg.TableColumnConstraints(nullable=column.nullable),
            )
            for column in table.columns
        ]
    )


def _describe(table: ContractTable) -> str:
    grain = f"one row per delivered version of ({', '.join(table.primary_key)})"
    delivery = {
        "updated_at": "records whose `updated_at` falls on the partition day",
        "with_parent": f"lines of the `{table.parent}` records delivered on the partition day",
        "file_day": "the landing file of the partition day",
    }[table.delivery]
    return (
        f"Raw `{table.source}.{table.name}` as extracted: {grain}. A partition holds {delivery}, "
        f"stored as `raw/{table.source}/{table.name}/<day>.parquet` with `_partition_date` and "
        "`_extracted_at`; re-running a partition replaces exactly its file."
    )


def build_extract_asset(
    table: ContractTable,
    partitions_def: dg.PartitionsDefinition,
    resource_key: str,
    read_days: DayReader,
    location: Callable[[object], str],
    kind: str,
) -> dg.AssetsDefinition:
    """The extract asset of one contract table, reading through the named resource."""

    @dg.asset(
        key=dg.AssetKey([table.source, table.name]),
        group_name=table.source,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={resource_key, "raw_store", "data_quality"},
        kinds={kind, "parquet"},
        description=_describe(table),
        metadata={"dagster/column_schema": table_schema(table)},
    )
    def _extract(context: AssetExecutionContext) -> dg.MaterializeResult:
        source = getattr(context.resources, resource_key)
        raw_store: RawStore = context.resources.raw_store
        quality: DataQuality = context.resources.data_quality
        window = context.partition_time_window
        is_first = context.partition_key_range.start == partitions_def.get_first_partition_key()
        extracted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        try:
            deliveries = read_days(source, table, window, is_first)
            frames = {day: conform(deliveries[day], table, day.isoformat()) for day in partition_days(window)}
        except SourceContractError as error:
            raise dg.Failure(description=str(error), metadata=error.metadata, allow_retries=False) from error
        suite = load_suite(suite_path(quality.expectations_dir_path, "raw", raw_suite_name(table)))
        splits, failures = split_deliveries(
            frames,
            {day: partition_bounds(partitions_def, day) for day in frames},
            suite,
            table,
            extracted_at,
            docs_dir=quality.docs_dir,
            run_name=f"{context.run_id}-{table.source}__{table.name}-extract",
            chunk_rows=quality.chunk_rows,
        )
        counts, quarantined = {}, {}
        for day, split in splits.items():
            partition = day.isoformat()
            path = raw_store.partition_path(table.source, table.name, partition)
            delivered = len(split.clean) + len(split.quarantined)
            counts[partition] = write_partition(path, split.clean, table, day, extracted_at, delivered)
            quarantine_path = quality.quarantine_path(table.source, table.name, partition)
            quarantined[partition] = write_quarantine(quarantine_path, split.quarantined, day, extracted_at)
        total_quarantined = sum(quarantined.values())
        context.log.info(
            f"{table.source}.{table.name}: {sum(counts.values())} rows over {len(counts)} partition(s)"
            + (f", {total_quarantined} quarantined" if total_quarantined else "")
        )
        for failure in failures:
            context.log.warning(f"quarantined: {failure.describe()}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(counts.values()),
                "rows_by_partition": dg.MetadataValue.json(counts),
                "quarantined_rows": total_quarantined,
                "quarantined_by_rule": dg.MetadataValue.json(
                    {failure.rule: failure.unexpected_count for failure in failures}
                ),
                "source_location": location(source),
                "raw_location": str(raw_store.table_dir(table.source, table.name)),
            }
        )

    return _extract
