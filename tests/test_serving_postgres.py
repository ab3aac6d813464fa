"""Publishing to a real PostgreSQL: the published tables equal the serving file's; BI reads, never writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from loyalty_pipeline.publish import PUBLISHED_TABLES
from loyalty_pipeline.serving_postgres import conninfo, publish_to_postgres
from loyalty_pipeline.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def serving_database(postgres_url: str) -> Iterator[tuple[str, str, str]]:
    """A fresh database and BI role: (pipeline URL, reader URL, reader role)."""
    suffix = uuid.uuid4().hex[:8]
    database, role, password = f"loyalty_serving_{suffix}", f"loyalty_bi_{suffix}", "reader-secret"
    with psycopg.connect(conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        admin.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
    base = make_url(postgres_url).set(database=database)
    reader = base.set(username=role, password=password)
    yield (
        base.render_as_string(hide_password=False),
        reader.render_as_string(hide_password=False),
        role,
    )
    with psycopg.connect(conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


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
    with psycopg.connect(conninfo(reader_url)) as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("delete from kpi.kpi_daily")
    with psycopg.connect(conninfo(reader_url)) as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("create table kpi.mine (x int)")
