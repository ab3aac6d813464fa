"""Write conformed deliveries to the raw store, one Parquet file per table and partition day.

A file per partition makes a re-run replace exactly its partition, lets extraction steps
run in parallel processes, and never takes a database lock that a reader could block.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loyalty_pipeline.contract import ContractTable

PARTITION_COLUMN = "_partition_date"
EXTRACTED_AT_COLUMN = "_extracted_at"
EXTRACTED_ROWS_KEY = b"loyalty.extracted_rows"

_ARROW_TYPES = {
    "varchar": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "integer": pa.int64(),
    # Money lands as double; staging casts it to decimal(18, 4), which rounds exactly.
    "decimal": pa.float64(),
    "boolean": pa.bool_(),
}


def arrow_schema(table: ContractTable) -> pa.Schema:
    """The raw file schema of a contract table, before any extra delivered columns."""
    fields = [pa.field(column.name, _ARROW_TYPES[column.type]) for column in table.columns]
    fields += [pa.field(PARTITION_COLUMN, pa.date32()), pa.field(EXTRACTED_AT_COLUMN, pa.timestamp("us"))]
    return pa.schema(fields)


def _to_arrow(frame: pd.DataFrame, table: ContractTable) -> pa.Table:
    schema = arrow_schema(table)
    arrays = {}
    for field in schema:
        arrays[field.name] = pa.array(frame[field.name], from_pandas=True).cast(field.type)
    extras = [name for name in frame.columns if name not in schema.names]
    for name in extras:
        arrays[name] = pa.array(frame[name].astype("string"), from_pandas=True)
    return pa.table(arrays)


def write_partition(
    path: Path,
    frame: pd.DataFrame,
    table: ContractTable,
    partition_day: dt.date,
    extracted_at: dt.datetime,
    extracted_rows: int,
) -> int:
    """Replace the partition's file atomically with this delivery's clean rows; return the rows written.

    The file records how many rows the source delivered, quarantined ones included, so the
    reconciliation check can prove that none was lost.
    """
    stamped = frame.assign(
        **{PARTITION_COLUMN: pd.Timestamp(partition_day), EXTRACTED_AT_COLUMN: pd.Timestamp(extracted_at)}
    )
    stamped = stamped.sort_values(list(table.primary_key), kind="stable").reset_index(drop=True)
    arrow = _to_arrow(stamped, table)
    arrow = arrow.replace_schema_metadata({EXTRACTED_ROWS_KEY: str(extracted_rows).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename over it: readers see the old file or the new one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(arrow, temporary)
    os.replace(temporary, path)
    return arrow.num_rows
