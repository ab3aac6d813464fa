"""The dbt project as Dagster assets: staging, intermediate and mart models, with dbt tests as checks."""

import datetime as dt
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from loyalty_pipeline.resources import Warehouse


class LoyaltyDbtTranslator(DagsterDbtTranslator):
    """Group dbt models by layer (staging, intermediate, marts); sources keep their own keys."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]
        return super().get_group_name(dbt_resource_props)


def dbt_executable() -> str:
    """The dbt installed beside this interpreter, so an unactivated virtualenv still works."""
    return shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))


def manifest_is_current(project_dir: Path) -> bool:
    """The prepared manifest is newer than every file of the dbt project."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return False
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        # Folders too: deleting or renaming a file changes only its folder's mtime.
        sources.append(project_dir / folder)
        sources.extend((project_dir / folder).rglob("*"))
    return all(path.stat().st_mtime <= manifest.stat().st_mtime for path in sources if path.exists())


def prepare_dbt_manifest(project_dir: Path) -> None:
    """`dbt parse` into the project's target folder, where Dagster reads the dbt graph from."""
    if manifest_is_current(project_dir):
        return
    dbt = DbtCliResource(project_dir=str(project_dir), profiles_dir=str(project_dir), dbt_executable=dbt_executable())
    dbt.cli(["parse", "--quiet"], target_path=Path("target")).wait()


def dbt_project(project_dir: Path) -> DbtProject:
    """The dbt project, its manifest re-parsed first when any project file is newer.

    dagster-dbt's own `prepare_if_dev` would look for `dbt` on PATH, which an unactivated
    virtualenv (`make dev`) does not have; this uses the dbt beside the interpreter.
    """
    prepare_dbt_manifest(project_dir)
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def window_vars(window: dg.TimeWindow) -> tuple[str, str]:
    """The inclusive first and last reporting day of a partition window."""
    last = window.end.date() - dt.timedelta(days=1)
    return window.start.date().isoformat(), last.isoformat()


def build_dbt_assets(project: DbtProject, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """All dbt models of the project as one multi-asset, run over a partition range at once."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=LoyaltyDbtTranslator(),
    )
    def loyalty_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse) -> Iterator[Any]:
        min_date, max_date = window_vars(context.partition_time_window)
        dbt_vars = json.dumps(warehouse.dbt_vars(min_date, max_date))
        with warehouse.dbt_environment():
            invocation = dbt.cli(["build", "--vars", dbt_vars], context=context)
        yield from invocation.stream()
        # Every invocation writes megabytes of artifacts to its own target folder: a nightly
        # pipeline would fill the disk. They are kept only when dbt failed (stream raises).
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    return loyalty_dbt_models
