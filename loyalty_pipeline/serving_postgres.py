"""Publishing to PostgreSQL: the checked KPI tables replaced in one transaction, for BI.

Each publish recreates the tables of schema `kpi` inside a single transaction, so a BI
query sees either the previous publication or the next, never a mix; PostgreSQL's DDL is
transactional. Rows are copied from the serving file (what passed the checks) with COPY;
no value is ever pasted into SQL text, table names are checked, and identifiers are quoted.
"""

import re
from collections.abc import Iterable, Iterator

import dagster as dg
import duckdb
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from loyalty_pipeline.names import checked_identifier, quote_identifier

SCHEMA = "kpi"

COPY_BATCH_ROWS = 10_000
# A BI transaction holding a published table open delays the swap; past this the publish
# fails with a clear lock-timeout error instead of waiting forever.
LOCK_TIMEOUT = "5min"

_TYPES = {
    "VARCHAR": "text",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "BOOLEAN": "boolean",
    "HUGEINT": "numeric(38, 0)",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type of the published tables."""
    decimal = _DECIMAL.fullmatch(duckdb_type)
    if decimal:
        return f"numeric({decimal.group(1)}, {decimal.group(2)})"
    if duckdb_type not in _TYPES:
        raise ValueError(f"published column type {duckdb_type} has no PostgreSQL mapping")
    return _TYPES[duckdb_type]


def conninfo(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (the form the settings use)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _columns(source: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return source.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [SCHEMA, table],
    ).fetchall()


def _rows(source: duckdb.DuckDBPyConnection, table: str) -> Iterator[tuple]:
    cursor = source.execute(f"select * from {SCHEMA}.{quote_identifier(table)}")
    while batch := cursor.fetchmany(COPY_BATCH_ROWS):
        yield from batch


def _replace_table(pg: psycopg.Connection, source: duckdb.DuckDBPyConnection, table: str) -> int:
    columns = _columns(source, table)
    name = sql.Identifier(SCHEMA, table)
    pg.execute(sql.SQL("drop table if exists {}").format(name))
    pg.execute(
        sql.SQL("create table {} ({})").format(
            name,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(postgres_type(kind)))
                for column, kind in columns
            ),
        )
    )
    rows = 0
    copy_statement = sql.SQL("copy {} ({}) from stdin").format(
        name, sql.SQL(", ").join(sql.Identifier(column) for column, _ in columns)
    )
    with pg.cursor().copy(copy_statement) as copy:
        for row in _rows(source, table):
            copy.write_row(row)
            rows += 1
    return rows


def _grant_readers(pg: psycopg.Connection, reader_role: str) -> bool:
    """Let the BI role read the new tables; False when the role does not exist (yet)."""
    exists = pg.execute("select 1 from pg_roles where rolname = %s", [reader_role]).fetchone()
    if not exists:
        return False
    role = sql.Identifier(reader_role)
    schema = sql.Identifier(SCHEMA)
    pg.execute(sql.SQL("grant usage on schema {} to {}").format(schema, role))
    pg.execute(sql.SQL("grant select on all tables in schema {} to {}").format(schema, role))
    return True


class ServingPostgres(dg.ConfigurableResource):
    """The PostgreSQL database BI reads (`LOYALTY_SERVING_POSTGRES_URL`; unset: not published).

    `reader_role` is the read-only role BI connects as (docs/bi.md creates it); each publish
    grants it SELECT on the new tables.
    """

    url: str | None = None
    reader_role: str = "loyalty_bi"


def publish_to_postgres(
    serving_path: str, url: str, tables: Iterable[str], reader_role: str | None
) -> tuple[dict[str, int], bool]:
    """Replace the tables in PostgreSQL from the serving file (schema `kpi` in both), in one transaction.

    Returns the rows per table and whether the reader role was granted access.
    """
    # Checked before connecting: a bad name fails the publish before any statement runs.
    tables = [checked_identifier(table, "published table") for table in tables]
    counts = {}
    with (
        duckdb.connect(serving_path, read_only=True) as source,
        psycopg.connect(conninfo(url)) as pg,
        pg.transaction(),
    ):
        pg.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        pg.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
        for table in tables:
            counts[table] = _replace_table(pg, source, table)
        granted = _grant_readers(pg, reader_role) if reader_role else False
    return counts, granted
