"""Shared fixtures: settings in a temporary folder, generated sources, a prepared dbt manifest."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from loyalty_pipeline.generator import generate
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.serving_postgres import conninfo
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.transform import prepare_dbt_manifest
from tests.helpers import GENERATED, GENERATED_LAST_DAY, SMALL, source_settings

# `make test` runs the suite on two workers, one test file each at a time (pytest-xdist,
# --dist loadfile): the longest file first, then the other slow ones, so that neither worker is
# left with an hour-long file at the end. Measured in CI's --durations list. xdist deals one
# file to each worker, then a second to each worker with at most two tests pending (the soak
# and the harness have one each): the third file waits behind the longest until it ends, so
# it is a file of seconds, not a slow one left idle while the other worker works.
LONGEST_FILE = "test_soak.py"
WAITS_BEHIND_LONGEST = "test_run_lock.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: (item.path.name != LONGEST_FILE, item.get_closest_marker("slow") is None))
    waiting = [item for item in items if item.path.name == WAITS_BEHIND_LONGEST]
    others = [item for item in items if item.path.name != WAITS_BEHIND_LONGEST]
    files = list(dict.fromkeys(item.path for item in others))
    if not waiting or len(files) < 2:
        return
    after_second = max(index for index, item in enumerate(others) if item.path == files[1]) + 1
    items[:] = others[:after_second] + waiting + others[after_second:]


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """Dagster reads the dbt graph from the manifest that `dbt parse` writes."""
    prepare_dbt_manifest(Settings.from_env({}).dbt_project_dir)


@pytest.fixture(scope="session")
def small_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources generated once for the session; tests that change them copy them first."""
    out = tmp_path_factory.mktemp("sources")
    generate(SMALL, out)
    return out


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A whole generated period run and published once per session; tests only read it."""
    root = tmp_path_factory.mktemp("generated")
    generate(GENERATED, root / "sources")
    settings = source_settings(root / "data", root / "sources", GENERATED.start)
    run_range(settings, GENERATED.start, GENERATED_LAST_DAY, chunk_days=GENERATED.days, echo=lambda _: None)
    return settings


@pytest.fixture
def settings(tmp_path: Path, small_sources: Path) -> Settings:
    """Settings for a fresh data folder reading the small generated sources."""
    return source_settings(tmp_path / "data", small_sources, SMALL.start)


@pytest.fixture
def private_settings(settings: Settings, tmp_path: Path, small_sources: Path) -> Settings:
    """Settings reading a private copy of the sources, which the test may change."""
    copy = tmp_path / "sources"
    shutil.copytree(small_sources, copy)
    return dataclasses.replace(
        settings, shop_db_url=f"sqlite:///{copy / 'shop.sqlite'}", landing_dir=str(copy / "landing")
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database, started by `make test` (scripts/start-postgres.sh)."""
    url = os.environ.get("LOYALTY_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("LOYALTY_TEST_POSTGRES_URL is not set: CI must run `make test`, which starts PostgreSQL")
        pytest.skip("LOYALTY_TEST_POSTGRES_URL is not set (make test starts PostgreSQL and sets it)")
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        connection.execute(sa.text("select 1"))
    engine.dispose()
    return url


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
