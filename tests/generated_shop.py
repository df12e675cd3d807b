"""One small generated shop per test session, shared by the report, notebook and dashboard tests."""

import shutil
from pathlib import Path

import duckdb
from warehouse_helpers import shop_home

from ml.cli import main

SCALE, SEED = "0.05", "7"


def generated_shop(tmp_path_factory) -> Path:
    """The home of a shop generated at scale 0.05 and built; built on first use in the session."""
    home = tmp_path_factory.getbasetemp() / "report_generated_shop"
    if not (home / "warehouse" / "globalshop.duckdb").exists():
        home.mkdir(exist_ok=True)
        with shop_home(home):
            assert main(["data", "generate", "--scale", SCALE, "--seed", SEED]) == 0
            assert main(["build"]) == 0
    return home


def copy_without(home: Path, target: Path, tables: tuple[str, ...]) -> Path:
    """A copy of ``home``'s warehouse at ``target``/warehouse/ with ``tables`` dropped, to show
    what readers do when a table is missing."""
    warehouse = target / "warehouse" / "globalshop.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(home / "warehouse" / "globalshop.duckdb", warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        for table in tables:
            connection.execute(f"drop table main.{table}")
    return target
