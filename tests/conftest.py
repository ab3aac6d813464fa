"""Shared fixtures: settings in a temporary folder, generated sources, a prepared dbt manifest."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_pipeline.generator import generate
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.transform import prepare_dbt_manifest
from tests.helpers import GENERATED, GENERATED_LAST_DAY, SMALL


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
    settings = Settings(
        data_dir=root / "data",
        shop_db_url=f"sqlite:///{root / 'sources' / 'shop.sqlite'}",
        landing_dir=str(root / "sources" / "landing"),
        start_date=GENERATED.start,
    )
    run_range(settings, GENERATED.start, GENERATED_LAST_DAY, chunk_days=GENERATED.days, echo=lambda _: None)
    return settings


@pytest.fixture
def settings(tmp_path: Path, small_sources: Path) -> Settings:
    """Settings for a fresh data folder reading the small generated sources."""
    return Settings(
        data_dir=tmp_path / "data",
        shop_db_url=f"sqlite:///{small_sources / 'shop.sqlite'}",
        landing_dir=str(small_sources / "landing"),
        start_date=SMALL.start,
    )


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
