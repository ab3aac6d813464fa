"""The floor: one DuckDB SQL scan of every raw table (rows and a sum over every column).

A comparison point for bench/pipeline.py: no pipeline can compute KPIs from the raw store
faster than it can read the raw store once.

Run: .venv/bin/python bench/duckdb_floor.py RAW_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb


def scan(raw_dir: Path) -> dict[str, int]:
    """Rows per raw table, reading every column of every file."""
    rows = {}
    with duckdb.connect() as connection:
        for folder in sorted(path for path in raw_dir.glob("*/*") if path.is_dir()):
            # One sum per column besides the count: every column is read and decoded.
            row = connection.execute(
                "select count(*), sum(hash(columns(*))) from read_parquet(?, union_by_name = true)",
                [str(folder / "*.parquet")],
            ).fetchone()
            rows[f"{folder.parent.name}.{folder.name}"] = row[0]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw_dir", type=Path)
    print(json.dumps(scan(parser.parse_args().raw_dir)))


if __name__ == "__main__":
    main()
