"""Where a shop's files live: the repo by default, or ``$GLOBALSHOP_HOME`` to keep shops apart."""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def home() -> Path:
    return Path(os.environ.get("GLOBALSHOP_HOME", PROJECT_DIR)).resolve()


def raw_dir() -> Path:
    return home() / "data" / "raw"


def warehouse_path() -> Path:
    return Path(os.environ.get("GLOBALSHOP_WAREHOUSE", home() / "warehouse" / "globalshop.duckdb"))
