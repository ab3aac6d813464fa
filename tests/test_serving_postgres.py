"""Publishing to a real PostgreSQL: the published tables equal the serving file's; BI reads, never writes."""

from __future__ import annotations

import duckdb
import psycopg
import pytest
from psycopg import sql

from loyalty_pipeline.publish import PUBLISHED_TABLES
from loyalty_pipeline.serving_postgres import conninfo, publish_to_postgres
from loyalty_pipeline.settings import Settings

pytestmark = pytest.mark.postgres

# Every kind of write a BI role could attempt: rows, tables, schemas.
BI_WRITES = [
    "insert into kpi.kpi_daily (date, kpi) values (date '2000-01-01', 'x')",
    "update kpi.kpi_daily set value = 0",
    "delete from kpi.kpi_daily",
    "truncate kpi.mrr_movements_monthly",
    "drop table kpi.customer_value",
    "alter table kpi.kpi_daily add column mine int",
    "create table kpi.mine (x int)",
    "create table public.mine (x int)",
    "create schema mine",
    "drop schema kpi cascade",
]


def _duckdb_rows(settings: Settings, table: str) -> list[tuple]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return connection.execute(f"select * from kpi.{table} order by all").fetchall()


def _postgres_rows(url: str, table: str) -> list[tuple]:
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute(sql.SQL("select * from {}").format(sql.Identifier("kpi", table))).fetchall()
    return sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))


def test_published_tables_equal_the_serving_file_and_bi_can_only_read(
    generated_run: Settings, serving_database: tuple[str, str, str]
) -> None:
    url, reader_url, role = serving_database

    for _ in range(2):  # publishing again replaces, never appends
        counts, granted = publish_to_postgres(str(generated_run.serving_path), url, PUBLISHED_TABLES, role)

    assert granted
    for table in PUBLISHED_TABLES:
        expected = _duckdb_rows(generated_run, table)
        published = _postgres_rows(url, table)
        assert counts[table] == len(expected)
        key = lambda row: tuple((value is None, str(value)) for value in row)  # noqa: E731
        assert sorted(expected, key=key) == published, table

    assert _postgres_rows(reader_url, "mrr_movements_monthly")
    before = {table: _postgres_rows(url, table) for table in PUBLISHED_TABLES}
    for statement in BI_WRITES:
        with psycopg.connect(conninfo(reader_url)) as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(statement)
    assert {table: _postgres_rows(url, table) for table in PUBLISHED_TABLES} == before
