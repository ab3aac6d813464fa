"""Names from configuration or data that reach SQL text or file paths: checked first, then quoted.

Values always travel as bound parameters. Names cannot, so every table, column and source
name of the contract, every published table and every partition key is checked against
these rules where it enters SQL or a path, and rejected with a clear error otherwise.
"""

import datetime as dt
import re

from loyalty_pipeline.errors import UnsafeNameError

# Lower-case SQL identifiers that need no quoting in DuckDB, PostgreSQL or a file name.
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# A relative folder inside the landing zone: identifier-like segments, no `..`, no leading `/`.
RELATIVE_FOLDER = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*")
# A daily partition key, exactly as Dagster's daily partitions spell it.
PARTITION_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")


def checked_identifier(name: str, what: str) -> str:
    """The name, if it is a plain lower-case identifier; otherwise an error naming what it is."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise UnsafeNameError(f"{what} {name!r} is not a plain identifier (lower-case letters, digits, _)")
    return name


def checked_folder(path: str, what: str) -> str:
    """A relative folder of identifier-like segments (no `..`, no absolute path)."""
    if not isinstance(path, str) or not RELATIVE_FOLDER.fullmatch(path):
        raise UnsafeNameError(f"{what} {path!r} is not a relative folder of lower-case names")
    return path


def checked_partition_key(key: str) -> str:
    """A daily partition key YYYY-MM-DD naming a real day; anything else is rejected."""
    valid = isinstance(key, str) and PARTITION_KEY.fullmatch(key)
    try:
        valid = valid and dt.date.fromisoformat(key).isoformat() == key
    except ValueError:
        valid = False
    if not valid:
        raise UnsafeNameError(f"partition key {key!r} is not a day YYYY-MM-DD")
    return key


def quote_identifier(name: str) -> str:
    """An identifier in double quotes (DuckDB and PostgreSQL), embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'
