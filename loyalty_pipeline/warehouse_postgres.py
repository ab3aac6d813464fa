"""PostgreSQL as the warehouse: the raw store loaded into tables that dbt's `postgres` target reads.

On DuckDB, dbt reads the raw Parquet files in place (the sources' `external_location`). A
PostgreSQL server cannot, so each raw table is copied into `raw_<source>.<table>` — the
schema every dbt source names — with the contract's columns, any extra delivered columns
(as text), `_partition_date` and `_extracted_at`. See docs/warehouse-postgres.md.

A load is idempotent per partition, the raw store's unit: each day file replaces exactly
that day's rows (delete, then COPY, in one transaction), so a re-extracted day is
reloaded, an unchanged one skipped, and a reader never sees half a day. Replacing whole
tables instead would copy the entire history on every daily run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pyarrow.parquet as pq
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from loyalty_pipeline.contract import ContractColumn, ContractTable, OutputTable, load_contract
from loyalty_pipeline.errors import SettingsError
from loyalty_pipeline.names import quote_identifier
from loyalty_pipeline.sources.raw_store import EXTRACTED_AT_COLUMN, PARTITION_COLUMN

RAW_SCHEMA_PREFIX = "raw_"
# Rows per Arrow batch read from a Parquet file: memory stays bounded whatever a day holds.
BATCH_ROWS = 50_000

# Raw column types in PostgreSQL. Integers are bigint because the raw Parquet holds int64
# (DuckDB reads them as BIGINT); money keeps the contract's declared decimal.
_PG_TYPES = {
    "varchar": "text",
    "timestamp": "timestamp",
    "date": "date",
    "integer": "bigint",
    "boolean": "boolean",
}
# The types a pipeline-output source may declare: PostgreSQL and DuckDB both read them as written.
_OUTPUT_TYPE = re.compile(r"^(varchar|text|date|timestamp|boolean|bigint|integer|double precision)$")
_DECIMAL = re.compile(r"^\s*decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*$", re.IGNORECASE)

# The variables of the `postgres` target in dbt_project/profiles.yml.
PROFILE_ENV_VARS = (
    "LOYALTY_PG_HOST",
    "LOYALTY_PG_PORT",
    "LOYALTY_PG_USER",
    "LOYALTY_PG_PASSWORD",
    "LOYALTY_PG_DATABASE",
    "LOYALTY_PG_SCHEMA",
)


def raw_schema(source: str) -> str:
    """The PostgreSQL schema of a source system's raw tables (the dbt source's `schema`)."""
    return f"{RAW_SCHEMA_PREFIX}{source}"


def dbt_profile_env(url: str, schema: str = "public") -> dict[str, str]:
    """The LOYALTY_PG_* variables that point dbt's `postgres` target at a database URL."""
    parsed = make_url(url)
    return {
        "LOYALTY_PG_HOST": parsed.host or "localhost",
        "LOYALTY_PG_PORT": str(parsed.port or 5432),
        "LOYALTY_PG_USER": parsed.username or "",
        "LOYALTY_PG_PASSWORD": parsed.password or "",
        "LOYALTY_PG_DATABASE": parsed.database or "",
        "LOYALTY_PG_SCHEMA": schema,
    }


@contextmanager
def dbt_profile_environment(url: str, schema: str = "public") -> Iterator[None]:
    """Point dbt's `postgres` target at a database URL while dbt is invoked, then restore.

    dagster-dbt hands this process's environment to the dbt subprocess, as
    `Warehouse.dbt_environment` does for the DuckDB file.
    """
    previous = {name: os.environ.get(name) for name in PROFILE_ENV_VARS}
    os.environ.update(dbt_profile_env(url, schema))
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def url_from_profile_env(env: Mapping[str, str]) -> str:
    """The database URL of the LOYALTY_PG_* variables, so the loader and dbt share one configuration."""
    missing = [name for name in ("LOYALTY_PG_USER", "LOYALTY_PG_DATABASE") if not env.get(name)]
    if missing:
        raise SettingsError(f"set {' and '.join(missing)} for the PostgreSQL warehouse (docs/warehouse-postgres.md)")
    return URL.create(
        "postgresql+psycopg",
        username=env["LOYALTY_PG_USER"],
        password=env.get("LOYALTY_PG_PASSWORD") or None,
        host=env.get("LOYALTY_PG_HOST", "localhost"),
        port=int(env.get("LOYALTY_PG_PORT", "5432")),
        database=env["LOYALTY_PG_DATABASE"],
    ).render_as_string(hide_password=False)


def connect(url: str) -> psycopg.Connection:
    """A psycopg connection (autocommit; transactions are explicit) from a SQLAlchemy-style URL."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    options = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        **{key: str(value) for key, value in parsed.query.items()},
    }
    return psycopg.connect(autocommit=True, **{key: value for key, value in options.items() if value is not None})


@dataclass
class TableLoad:
    """What one load did to one raw table."""

    rows_loaded: int = 0
    partitions_loaded: int = 0
    partitions_skipped: int = 0
    partitions_removed: int = 0


@dataclass(frozen=True)
class _RawColumn:
    name: str
    pg_type: str
    # How DuckDB reads the column from a Parquet file: money through the same cast as staging.
    duckdb_type: str | None = None


def _raw_columns(table: ContractTable) -> list[_RawColumn]:
    columns = [_contract_column(column) for column in table.columns]
    columns.append(_RawColumn(PARTITION_COLUMN, "date"))
    columns.append(_RawColumn(EXTRACTED_AT_COLUMN, "timestamp"))
    return columns


def _contract_column(column: ContractColumn) -> _RawColumn:
    if column.type != "decimal":
        return _RawColumn(column.name, _PG_TYPES[column.type])
    match = _DECIMAL.match(column.data_type)
    if not match:
        raise ValueError(f"contract column {column.name}: unsupported decimal type {column.data_type!r}")
    precision, scale = match.groups()
    # The raw Parquet holds money as double; staging casts it to this decimal. Casting it in
    # DuckDB here gives PostgreSQL exactly the decimals that staging computes on DuckDB.
    return _RawColumn(column.name, f"numeric({precision},{scale})", f"decimal({precision},{scale})")


def _partition_files(folder: Path) -> dict[dt.date, Path]:
    """The raw store's day files of a table: `<folder>/<YYYY-MM-DD>.parquet`."""
    files = {}
    for path in sorted(folder.glob("*.parquet")):
        try:
            files[dt.date.fromisoformat(path.stem)] = path
        except ValueError as error:
            raise ValueError(f"{path}: a raw file is named for its partition day, YYYY-MM-DD.parquet") from error
    return files


class _PostgresTable:
    """One raw table in PostgreSQL, created and extended to the columns it must hold."""

    def __init__(self, connection: psycopg.Connection, table: ContractTable) -> None:
        self.connection = connection
        self.schema = raw_schema(table.source)
        self.name = table.name
        self.identifier = sql.Identifier(self.schema, self.name)
        self.columns = _raw_columns(table)

    def ensure(self, extra_columns: Iterable[str]) -> None:
        """Create the schema, table and partition index; add columns that files bring."""
        known = {column.name for column in self.columns}
        self.columns += [_RawColumn(name, "text") for name in extra_columns if name not in known]
        definitions = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.pg_type)) for column in self.columns
        )
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(self.schema)))
            cursor.execute(sql.SQL("create table if not exists {} ({})").format(self.identifier, definitions))
            for column in self.columns:
                cursor.execute(
                    sql.SQL("alter table {} add column if not exists {} {}").format(
                        self.identifier, sql.Identifier(column.name), sql.SQL(column.pg_type)
                    )
                )
            cursor.execute(
                sql.SQL("create index if not exists {} on {} ({})").format(
                    sql.Identifier(f"{self.name}__partition_date"[:63]),
                    self.identifier,
                    sql.Identifier(PARTITION_COLUMN),
                )
            )

    def loaded_partitions(self) -> dict[dt.date, tuple[int, dt.datetime | None]]:
        """Rows and latest extraction time of each partition already in the table."""
        query = sql.SQL("select {partition}, count(*), max({extracted}) from {table} group by 1").format(
            partition=sql.Identifier(PARTITION_COLUMN),
            extracted=sql.Identifier(EXTRACTED_AT_COLUMN),
            table=self.identifier,
        )
        with self.connection.cursor() as cursor:
            return {day: (rows, extracted_at) for day, rows, extracted_at in cursor.execute(query)}

    def replace_partition(self, day: dt.date, batches: Iterator[list[list]]) -> int:
        """Delete the day's rows and COPY the new ones in, in one transaction; return the rows."""
        rows = 0
        names = sql.SQL(", ").join(sql.Identifier(column.name) for column in self.columns)
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("delete from {} where {} = %s").format(self.identifier, sql.Identifier(PARTITION_COLUMN)),
                [day],
            )
            with cursor.copy(sql.SQL("copy {} ({}) from stdin").format(self.identifier, names)) as copy:
                for columns in batches:
                    for row in zip(*columns, strict=True):
                        copy.write_row(row)
                        rows += 1
        return rows

    def remove_partitions_except(self, days: Sequence[dt.date]) -> int:
        """Delete the rows of partitions that are no longer in the raw store."""
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("delete from {} where not ({} = any(%s))").format(
                    self.identifier, sql.Identifier(PARTITION_COLUMN)
                ),
                [list(days)],
            )
            return cursor.rowcount

    def analyze(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("analyze {}").format(self.identifier))


class _ParquetReader:
    """Reads a day file with DuckDB into the PostgreSQL table's column order, in batches."""

    def __init__(self, duck: duckdb.DuckDBPyConnection) -> None:
        self.duck = duck

    def summary(self, path: Path) -> tuple[int, dt.datetime | None, dt.date | None, dt.date | None]:
        """Rows, latest extraction time and first and last partition day of a day file."""
        query = (
            f"select count(*), max({quote_identifier(EXTRACTED_AT_COLUMN)}),"
            f" min({quote_identifier(PARTITION_COLUMN)}), max({quote_identifier(PARTITION_COLUMN)})"
            " from read_parquet(?)"
        )
        (row,) = self.duck.sql(query, params=[str(path)]).fetchall()
        return row

    def batches(self, path: Path, columns: Sequence[_RawColumn]) -> Iterator[list[list]]:
        present = set(pq.read_schema(path).names)
        selected = []
        for column in columns:
            name = quote_identifier(column.name)
            if column.name not in present:
                # A file written before the contract gained a column: null, as union_by_name reads it.
                selected.append(f"cast(null as {column.duckdb_type or 'varchar'}) as {name}")
            elif column.duckdb_type:
                selected.append(f"cast({name} as {column.duckdb_type}) as {name}")
            elif column.pg_type == "text":
                selected.append(f"cast({name} as varchar) as {name}")
            else:
                selected.append(name)
        query = f"select {', '.join(selected)} from read_parquet(?)"
        reader = self.duck.sql(query, params=[str(path)]).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            yield [batch.column(index).to_pylist() for index in range(batch.num_columns)]


@contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    try:
        yield connection
    finally:
        connection.close()


def load_raw_to_postgres(
    raw_dir: Path,
    url: str,
    tables: Iterable[ContractTable] | None = None,
    partitions: Iterable[dt.date] | None = None,
    force: bool = False,
) -> dict[str, TableLoad]:
    """Copy the raw store's Parquet files into `raw_<source>.<table>` tables of a PostgreSQL database.

    raw_dir is the raw store (`$LOYALTY_DATA_DIR/raw`); url a SQLAlchemy-style PostgreSQL URL;
    tables the contract tables to load (default: every table of the repository's contract
    that has a folder in raw_dir). With partitions, only those days are (re)loaded; without,
    every day file is, and the rows of days that no longer have a file are removed. A
    partition whose rows and extraction time are already in PostgreSQL is skipped, unless
    force is set.
    Returns what happened per `source.table`.
    """
    if tables is None:
        from loyalty_pipeline.settings import REPOSITORY_DBT_PROJECT_DIR

        tables = [table for table in load_contract(REPOSITORY_DBT_PROJECT_DIR) if (raw_dir / table.source).is_dir()]
    only_days = None if partitions is None else set(partitions)
    summary: dict[str, TableLoad] = {}
    with connect(url) as connection, _duckdb() as duck:
        reader = _ParquetReader(duck)
        for table in tables:
            files = _partition_files(raw_dir / table.source / table.name)
            target = _PostgresTable(connection, table)
            extras = sorted({name for path in files.values() for name in pq.read_schema(path).names})
            target.ensure(extras)
            loaded = target.loaded_partitions()
            result = summary[f"{table.source}.{table.name}"] = TableLoad()
            for day, path in files.items():
                if only_days is not None and day not in only_days:
                    continue
                rows, extracted_at, first_day, last_day = reader.summary(path)
                if rows and (first_day, last_day) != (day, day):
                    raise ValueError(f"{path} holds rows of {first_day}..{last_day}, not only of its day {day}")
                if not force and loaded.get(day, (0, None)) == (rows, extracted_at):
                    result.partitions_skipped += 1
                    continue
                result.rows_loaded += target.replace_partition(day, reader.batches(path, target.columns))
                result.partitions_loaded += 1
            if only_days is None:
                result.partitions_removed = len(set(loaded) - set(files))
                if result.partitions_removed:
                    target.remove_partitions_except(sorted(files))
            if result.partitions_loaded or result.partitions_removed:
                target.analyze()
    return summary


def load_outputs_to_postgres(data_dir: Path, url: str, tables: Iterable[OutputTable]) -> dict[str, int]:
    """Copy the pipeline's own output files (the predicted-CLV step's) into `raw_<source>.<identifier>`.

    They are small (a row per day, a row per customer of the last fitted days) and rewritten
    by every run, so each table is replaced whole, in one transaction. Returns rows per table.
    """
    loaded: dict[str, int] = {}
    with connect(url) as connection, _duckdb() as duck:
        for table in tables:
            files = sorted((data_dir / table.source / table.identifier).glob("*.parquet"))
            if not files:
                raise FileNotFoundError(
                    f"{table.source}.{table.name}: no files under {data_dir / table.source / table.identifier};"
                    " run the pipeline first (its predicted-CLV step writes them)"
                )
            loaded[f"{table.source}.{table.name}"] = _replace_output_table(connection, duck, table, files)
    return loaded


def _replace_output_table(
    connection: psycopg.Connection, duck: duckdb.DuckDBPyConnection, table: OutputTable, files: Sequence[Path]
) -> int:
    for name, data_type in table.columns:
        if not _OUTPUT_TYPE.match(data_type):
            raise ValueError(f"{table.source}.{table.name}.{name}: unsupported type {data_type!r}")
    identifier = sql.Identifier(raw_schema(table.source), table.identifier)
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(data_type)) for name, data_type in table.columns
    )
    names = [name for name, _ in table.columns]
    selected = ", ".join(quote_identifier(name) for name in names)
    reader = duck.sql(
        f"select {selected} from read_parquet(?, union_by_name = true)", params=[[str(path) for path in files]]
    ).to_arrow_reader(BATCH_ROWS)
    rows = 0
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(raw_schema(table.source))))
        cursor.execute(sql.SQL("drop table if exists {}").format(identifier))
        cursor.execute(sql.SQL("create table {} ({})").format(identifier, definitions))
        copy_into = sql.SQL("copy {} ({}) from stdin").format(
            identifier, sql.SQL(", ").join(sql.Identifier(name) for name in names)
        )
        with cursor.copy(copy_into) as copy:
            for batch in reader:
                for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                    copy.write_row(row)
                    rows += 1
    return rows
