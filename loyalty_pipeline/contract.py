"""The source contract, as the dbt sources declare it.

`dbt_project/models/staging/*/_*__sources.yml` is the one machine-readable copy of
`source-contract.md`: dbt documents and reads the raw tables from it, and the extract
assets check every delivery against it. Reading it here keeps the two from drifting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from loyalty_pipeline.errors import UnsafeNameError
from loyalty_pipeline.names import checked_folder, checked_identifier

ColumnType = Literal["varchar", "timestamp", "decimal", "integer", "boolean", "date"]
Delivery = Literal["updated_at", "with_parent", "file_day"]


@dataclass(frozen=True)
class ContractColumn:
    name: str
    type: ColumnType
    nullable: bool
    # The data_type as the dbt source declares it, e.g. decimal(18,4): a SQL warehouse's raw tables use it.
    data_type: str = ""

    def __post_init__(self) -> None:
        # Column names become SQL identifiers (DuckDB, PostgreSQL, the shop query).
        checked_identifier(self.name, "contract column")


@dataclass(frozen=True)
class ContractTable:
    """One source table of the contract, with how it is delivered."""

    source: str
    name: str
    columns: tuple[ContractColumn, ...]
    primary_key: tuple[str, ...]
    delivery: Delivery
    parent: str | None = None
    parent_key: tuple[str, ...] = ()
    landing_path: str | None = None
    # The timestamps that place a record on its reporting day, first non-null first
    # (meta.loyalty.event_time); empty for dimensions, whose latest version applies.
    event_time: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Source and table names become SQL identifiers, asset keys and raw-store folders.
        checked_identifier(self.source, "contract source")
        checked_identifier(self.name, f"contract table of source {self.source}")
        for name in (*self.primary_key, *self.parent_key):
            checked_identifier(name, f"key column of {self.source}.{self.name}")
        if self.parent is not None:
            checked_identifier(self.parent, f"parent table of {self.source}.{self.name}")
        if self.landing_path is not None:
            checked_folder(self.landing_path, f"landing_path of {self.source}.{self.name}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.name)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


def _column_type(data_type: str) -> ColumnType:
    base = data_type.split("(")[0].strip().lower()
    if base not in ("varchar", "timestamp", "decimal", "integer", "boolean", "date"):
        raise ValueError(f"contract column type {data_type!r} is not supported")
    return base  # type: ignore[return-value]


def _table(source: str, table: dict) -> ContractTable:
    loyalty = table["meta"]["loyalty"]
    columns = tuple(
        ContractColumn(
            name=column["name"],
            type=_column_type(column["data_type"]),
            nullable=bool(column.get("meta", {}).get("nullable", False)),
            data_type=column["data_type"],
        )
        for column in table["columns"]
    )
    event_time = tuple(loyalty.get("event_time", ()))
    temporal = {column.name for column in columns if column.type in ("timestamp", "date")}
    if not set(event_time) <= temporal:
        raise ValueError(f"{source}.{table['name']}: event_time {list(event_time)} must name timestamp or date columns")
    return ContractTable(
        source=source,
        name=table["name"],
        columns=columns,
        primary_key=tuple(loyalty["primary_key"]),
        delivery=loyalty["delivery"],
        parent=loyalty.get("parent"),
        parent_key=tuple(loyalty.get("parent_key", ())),
        landing_path=loyalty.get("landing_path"),
        event_time=event_time,
    )


@dataclass(frozen=True)
class OutputTable:
    """Files the pipeline writes itself that dbt reads as a source (`meta.pipeline_output`)."""

    source: str
    name: str
    # The folder under $LOYALTY_DATA_DIR/<source>/ and the relation's name in a SQL warehouse.
    identifier: str
    # (name, data_type as the dbt source declares it)
    columns: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        # They become a schema, a table and a folder in a SQL warehouse and the data folder.
        for name in (self.source, self.name, self.identifier, *(column for column, _ in self.columns)):
            checked_identifier(name, f"pipeline output {self.source}.{self.name}")


def _sources(dbt_project_dir: Path) -> list[tuple[Path, dict]]:
    """Every source of the staging source files, with the file that declares it."""
    sources = []
    for path in sorted((dbt_project_dir / "models" / "staging").glob("*/_*__sources.yml")):
        sources.extend((path, source) for source in yaml.safe_load(path.read_text())["sources"])
    if not sources:
        raise FileNotFoundError(f"no dbt source files found under {dbt_project_dir}/models/staging")
    return sources


def _source_tables(path: Path, source: dict) -> list[ContractTable]:
    try:
        return [_table(source["name"], table) for table in source["tables"]]
    except UnsafeNameError as error:
        raise UnsafeNameError(f"{path}: {error}") from error


def _is_pipeline_output(source: dict) -> bool:
    return bool(source.get("meta", {}).get("pipeline_output"))


@cache
def load_contract(dbt_project_dir: Path) -> tuple[ContractTable, ...]:
    """Every source table declared in the dbt project's staging source files."""
    # Files the pipeline writes itself (the predicted-CLV step's) are sources to dbt but not
    # source systems: nothing extracts them.
    return tuple(
        table
        for path, source in _sources(dbt_project_dir)
        if not _is_pipeline_output(source)
        for table in _source_tables(path, source)
    )


@cache
def load_pipeline_outputs(dbt_project_dir: Path) -> tuple[OutputTable, ...]:
    """The dbt sources that are the pipeline's own output files (the predicted-CLV step's)."""
    return tuple(
        OutputTable(
            source=source["name"],
            name=table["name"],
            identifier=table.get("identifier", table["name"]),
            columns=tuple((column["name"], column["data_type"]) for column in table["columns"]),
        )
        for _, source in _sources(dbt_project_dir)
        if _is_pipeline_output(source)
        for table in source["tables"]
    )
