"""Building a throwaway shop in a temporary GLOBALSHOP_HOME, for tests."""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from ml import paths
from ml.build import BuildResult, build
from ml.quality import MartValidation, validate_marts


@contextmanager
def shop_home(home: Path) -> Iterator[Path]:
    """Point GLOBALSHOP_HOME at `home` for the duration of the block."""
    previous = {name: os.environ.get(name) for name in ("GLOBALSHOP_HOME", "GLOBALSHOP_WAREHOUSE")}
    os.environ["GLOBALSHOP_HOME"] = str(home)
    os.environ.pop("GLOBALSHOP_WAREHOUSE", None)
    try:
        yield home
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_shop(home: Path) -> BuildResult:
    with shop_home(home):
        result = build()
    assert result.succeeded, f"dbt build failed:\n{result.summary}\nlog: {result.log_path}"
    return result


def validate_shop(home: Path) -> list[MartValidation]:
    """The Great Expectations suite over `home`'s marts."""
    with shop_home(home):
        connection = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        return validate_marts(connection)
    finally:
        connection.close()


def query(home: Path, sql: str) -> list[tuple]:
    with shop_home(home):
        connection = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        return connection.sql(sql).fetchall()
    finally:
        connection.close()
