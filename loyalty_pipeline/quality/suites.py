"""Great Expectations suites: one reviewed JSON file per raw source table and published table.

Raw suites open with the expectations the source contract implies (columns, types, not-null,
unique keys per partition); they are written from the contract by `loyalty-pipeline suites`
and marked `"meta": {"from_contract": true}`, so the contract stays the one place they are
decided and a test fails when a suite drifts from it. Every other expectation is written
by hand. Meta keys the pipeline reads:

- `quarantine: true` — a row-level rule: offending rows are quarantined at extraction.
- `rule` — one sentence for the on-call engineer, shown in check metadata.
GX's own `severity` decides the Dagster severity: `critical` blocks (ERROR), `warning` warns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from loyalty_pipeline.contract import ContractTable

# Raw batches carry these columns beside the contract's: the partition day, its bounds as
# naive UTC timestamps, and when the rows were extracted (the "future" of the rules).
PARTITION_COLUMNS = ("_partition_date", "_partition_start", "_partition_end", "_extracted_at")
# Added by the raw check for tables with an event_time: the record's event time (the first
# non-null of those columns) and the start of the first day the run restates, naive UTC.
EVENT_TIME_COLUMN = "_event_time"
RESTATED_FROM_COLUMN = "_restated_from"

# How pandas shows each contract type once the raw Parquet file is read back.
_PANDAS_TYPES = {
    "varchar": "str",
    "timestamp": "datetime64",
    "date": "datetime64",
    "integer": "int64",
    "decimal": "float64",
    "boolean": "bool",
}


@dataclass(frozen=True)
class SuiteFile:
    """A suite as stored: its name, expectations (GX JSON) and suite-level meta."""

    name: str
    expectations: tuple[dict[str, Any], ...]
    meta: dict[str, Any]
    path: Path

    @property
    def row_rules(self) -> tuple[dict[str, Any], ...]:
        """The expectations whose offending rows are quarantined rather than failing the batch."""
        return tuple(expectation for expectation in self.expectations if expectation.get("meta", {}).get("quarantine"))

    @property
    def stored_rules(self) -> tuple[dict[str, Any], ...]:
        """The expectations left to judge once extraction has quarantined every row breaking a row rule."""
        return tuple(
            expectation for expectation in self.expectations if not expectation.get("meta", {}).get("quarantine")
        )

    def subset(self, label: str, expectations: tuple[dict[str, Any], ...]) -> SuiteFile:
        """Some of the suite's expectations, under a name of their own (GX keeps suites by name)."""
        return SuiteFile(name=f"{self.name}__{label}", expectations=expectations, meta=self.meta, path=self.path)


def raw_suite_name(table: ContractTable) -> str:
    return f"{table.source}__{table.name}"


def suite_path(expectations_dir: Path, group: str, name: str) -> Path:
    return expectations_dir / group / f"{name}.json"


@cache
def load_suite(path: Path) -> SuiteFile:
    """Read a suite file; a missing or malformed file is a deployment error worth a clear message."""
    if not path.exists():
        raise FileNotFoundError(f"expectation suite {path} is missing")
    document = json.loads(path.read_text())
    return SuiteFile(
        name=document["name"],
        expectations=tuple(document["expectations"]),
        meta=document.get("meta", {}),
        path=path,
    )


def _from_contract(
    expectation_type: str, kwargs: dict[str, Any], rule: str, quarantine: bool, severity: str = "critical"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"from_contract": True, "rule": rule}
    if quarantine:
        meta["quarantine"] = True
    return {"type": expectation_type, "kwargs": kwargs, "meta": meta, "severity": severity}


def contract_expectations(table: ContractTable) -> list[dict[str, Any]]:
    """The expectations the source contract implies for a raw table."""
    expectations = [
        _from_contract(
            "expect_table_columns_to_match_set",
            {"column_set": [*table.column_names, *PARTITION_COLUMNS], "exact_match": False},
            "every column of the source contract is present",
            quarantine=False,
        )
    ]
    for column in table.columns:
        expectations.append(
            _from_contract(
                "expect_column_values_to_be_of_type",
                {"column": column.name, "type_": _PANDAS_TYPES[column.type]},
                f"{column.name} has the contract type {column.type}",
                quarantine=False,
            )
        )
    for column in table.columns:
        if not column.nullable:
            expectations.append(
                _from_contract(
                    "expect_column_values_to_not_be_null",
                    {"column": column.name},
                    f"{column.name} is required",
                    quarantine=True,
                )
            )
    expectations.append(
        _from_contract(
            "expect_compound_columns_to_be_unique",
            {"column_list": [*table.primary_key, "_partition_date"]},
            f"the key ({', '.join(table.primary_key)}) is delivered once per partition",
            quarantine=True,
        )
    )
    if table.event_time:
        # Kept, not quarantined: the record is right, only late. Its day is not restated by
        # this run, so the check warns with the count and the rows (docs/runbook.md).
        expectations.append(
            _from_contract(
                "expect_column_pair_values_a_to_be_greater_than_b",
                {
                    "column_A": EVENT_TIME_COLUMN,
                    "column_B": RESTATED_FROM_COLUMN,
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
                f"the record's day ({' or '.join(table.event_time)}) is one the run restates (within the lookback)",
                quarantine=False,
                severity="warning",
            )
        )
    return expectations


def with_contract_expectations(document: dict[str, Any], table: ContractTable) -> dict[str, Any]:
    """The suite document with its contract part rewritten from the contract, hand-written rules kept."""
    own = [
        expectation
        for expectation in document.get("expectations", [])
        if not expectation.get("meta", {}).get("from_contract")
    ]
    # Samples of offending rows show these first, so a failure names the records to look at.
    key_columns = [*table.primary_key, "_partition_date"]
    return {
        "name": raw_suite_name(table),
        "meta": {**document.get("meta", {}), "key_columns": key_columns},
        "expectations": [*contract_expectations(table), *own],
    }


def write_raw_suites(expectations_dir: Path, tables: tuple[ContractTable, ...]) -> list[Path]:
    """Rewrite the contract part of every raw suite; return the files that changed."""
    changed = []
    for table in tables:
        path = suite_path(expectations_dir, "raw", raw_suite_name(table))
        current = json.loads(path.read_text()) if path.exists() else {}
        updated = with_contract_expectations(current, table)
        text = json.dumps(updated, indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed
