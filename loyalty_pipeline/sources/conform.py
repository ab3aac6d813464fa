"""Check a delivery against the source contract and give its columns the contract's types."""

from __future__ import annotations

import pandas as pd

from loyalty_pipeline.contract import ContractColumn, ContractTable

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}
SAMPLE_SIZE = 5


class SourceContractError(ValueError):
    """A delivery breaks the source contract: names the source, partition, column and rule."""

    def __init__(self, table: ContractTable, partition: str, column: str, rule: str, samples: list[str]):
        self.source = table.source
        self.table = table.name
        self.partition = partition
        self.column = column
        self.rule = rule
        self.samples = samples
        detail = f"; offending values: {', '.join(samples)}" if samples else ""
        super().__init__(
            f"source {table.source}.{table.name}, partition {partition}, column {column!r}: {rule}{detail}"
        )

    @property
    def metadata(self) -> dict[str, str]:
        return {
            "source": f"{self.source}.{self.table}",
            "partition": self.partition,
            "column": self.column,
            "rule": self.rule,
            "samples": ", ".join(self.samples),
        }


def to_utc_timestamp(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC; unparseable values become NaT."""
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def _to_date(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce", format="ISO8601").dt.normalize().astype("datetime64[s]")


def _to_integer(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.where(numbers.isna() | (numbers == numbers.round()))
    return whole.astype("Int64")


def _to_boolean(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    result = pd.Series(pd.NA, index=values.index, dtype="boolean")
    result[text.isin(_TRUE)] = True
    result[text.isin(_FALSE)] = False
    return result


_CASTS = {
    "varchar": lambda values: values.astype("string"),
    "timestamp": to_utc_timestamp,
    "date": _to_date,
    "integer": _to_integer,
    "decimal": lambda values: pd.to_numeric(values, errors="coerce").astype("float64"),
    "boolean": _to_boolean,
}


def _is_missing(values: pd.Series) -> pd.Series:
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        missing |= values.astype("string").str.strip().eq("").fillna(False)
    return missing


def _cast_column(values: pd.Series, column: ContractColumn, table: ContractTable, partition: str) -> pd.Series:
    try:
        cast = _CASTS[column.type](values)
    except (TypeError, ValueError, OverflowError) as error:
        raise SourceContractError(table, partition, column.name, f"expected {column.type}: {error}", []) from error
    broken = cast.isna() & ~_is_missing(values)
    if broken.any():
        samples = [repr(value) for value in values[broken].head(SAMPLE_SIZE).tolist()]
        raise SourceContractError(
            table, partition, column.name, f"expected {column.type}, {int(broken.sum())} value(s) are not", samples
        )
    return cast


def conform(frame: pd.DataFrame, table: ContractTable, partition: str) -> pd.DataFrame:
    """The delivery with every contract column cast to its type; extra columns are kept as delivered."""
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        raise SourceContractError(
            table, partition, missing[0], f"required column is missing (all missing: {', '.join(missing)})", []
        )
    conformed = frame.copy()
    for column in table.columns:
        conformed[column.name] = _cast_column(frame[column.name], column, table, partition)
    extras = [name for name in frame.columns if name not in table.column_names]
    return conformed[table.column_names + extras]
