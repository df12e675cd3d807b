"""Security: no secret in the repository, credentials only from the environment, user input only as
bound parameters, commands that write only under the shop's folders, read-only readers."""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml
from bad_inputs.cases import CORPUS_DIR
from warehouse_helpers import build_shop, shop_home

from ml import paths
from ml.cli import main
from ml.warehouse import connect, customer_lookup

HOSTILE_CUSTOMER_IDS = ["x'; drop table fct_orders; --", "' or '1'='1", "1; select 1", "$customer_id"]
SECRET_PATTERNS = {
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "literal password or token": re.compile(
        r"(?i)\b(password|passwd|secret|token|api_key)\b\s*[:=]\s*['\"][^'\"{}\s]{6,}['\"]"),
}
# a profile setting whose name says it holds a credential must take its value from env_var()
CREDENTIAL_MARKERS = ("password", "passwd", "secret", "token", "credential", "api_key", "apikey",
                      "access_key", "access.key", "private_key", "keyfile", "user")
SHOP_FOLDERS = {"data", "warehouse", "logs", "target", "reports"}
DBT_PROJECT_FILES = {"dbt_project.yml", "profiles.yml", "selectors.yml", "models", "macros", "seeds",
                     "python_models", "analyses"}


def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=paths.PROJECT_DIR, capture_output=True, text=True, check=True)
    return [paths.PROJECT_DIR / name for name in listed.stdout.splitlines()
            if (paths.PROJECT_DIR / name).is_file()]


def test_no_secret_in_the_repository():
    found = []
    for path in repository_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path.relative_to(paths.PROJECT_DIR)}: {name}"
                  for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def settings_of(mapping: dict, prefix: str = "") -> dict[str, object]:
    """Every leaf setting of a nested mapping, by its dotted path."""
    leaves = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        leaves.update(settings_of(value, f"{path}.") if isinstance(value, dict) else {path: value})
    return leaves


def test_every_credential_in_the_profiles_comes_from_the_environment():
    profiles = yaml.safe_load((paths.PROJECT_DIR / "profiles.yml").read_text())
    settings = settings_of(profiles)
    credentials = {path: value for path, value in settings.items()
                   if any(marker in path.rsplit(".outputs.", 1)[-1].lower() for marker in CREDENTIAL_MARKERS)}
    literal = {path: value for path, value in credentials.items() if "env_var(" not in str(value)}

    assert "globalshop.outputs.duckdb.path" in settings
    assert literal == {}


@pytest.fixture
def small_warehouse(tmp_path: Path) -> Path:
    """The tables customer_lookup reads, written by hand: no dbt needed to test the SQL."""
    path = tmp_path / "globalshop.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("""
        create table dim_customers as
        select * from (values ('online_retail:17850', 'online_retail', '17850'),
                              ('events:17850', 'events', '17850'),
                              ('online_retail:12346', 'online_retail', '12346'))
            as customers (customer_id, source_system, source_customer_id);
        create table customer_rfm as
        select 'online_retail:17850' as customer_id, 5 as recency_days, 34 as frequency,
               5391.21 as monetary, '555' as rfm_cell, 'Champions' as rfm_segment;
        create table fct_orders as select 'online_retail:536365' as order_id;
    """)
    connection.close()
    return path


def test_customer_lookup_finds_a_customer_by_key_or_by_source_id(small_warehouse):
    with connect(small_warehouse) as connection:
        by_key = customer_lookup(connection, "online_retail:17850")
        by_source_id = customer_lookup(connection, " 17850 ")

    assert by_key[["customer_id", "rfm_segment"]].values.tolist() == [["online_retail:17850", "Champions"]]
    assert by_source_id["customer_id"].tolist() == ["events:17850", "online_retail:17850"]


@pytest.mark.parametrize("hostile", HOSTILE_CUSTOMER_IDS)
def test_a_hostile_customer_id_is_only_compared_never_run(small_warehouse, hostile):
    # a writable connection, the worst case: only parameters stand between the input and the data
    with connect(small_warehouse, read_only=False) as connection:
        found = customer_lookup(connection, hostile)
        tables = {name for (name,) in connection.execute("show tables").fetchall()}

    assert found.empty
    assert tables == {"dim_customers", "customer_rfm", "fct_orders"}


def test_an_empty_customer_id_is_a_clear_error(small_warehouse):
    with connect(small_warehouse) as connection, pytest.raises(ValueError, match="give a customer id"):
        customer_lookup(connection, "  ")


def test_a_read_only_connection_cannot_write(small_warehouse):
    before = hashlib.sha256(small_warehouse.read_bytes()).hexdigest()
    with connect(small_warehouse) as connection:
        for statement in ("drop table fct_orders", "create table stolen as select 1",
                          "delete from dim_customers", "update customer_rfm set monetary = 0"):
            with pytest.raises(duckdb.Error, match="read-only"):
                connection.execute(statement)

    assert hashlib.sha256(small_warehouse.read_bytes()).hexdigest() == before


def test_a_hostile_file_name_is_read_as_a_name(tmp_path):
    hostile = tmp_path / "lines'); drop table t; select ('.csv"
    shutil.copy(CORPUS_DIR / "invoice_lines" / "duplicate_lines.csv", hostile)

    with shop_home(tmp_path):
        assert main(["data", "import", "online-retail", str(hostile)]) == 0

    written = list((tmp_path / "data" / "raw" / "online_retail").glob("*.parquet"))
    assert [path.name for path in written] == ["lines'); drop table t; select ('.parquet"]
    assert duckdb.sql("select count(*) from read_parquet($path)",
                      params={"path": str(written[0])}).fetchall() == [(4,)]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.slow
def test_commands_write_only_under_the_shop_folders(tmp_path, monkeypatch):
    project, home, elsewhere = tmp_path / "project", tmp_path / "home", tmp_path / "elsewhere"
    shutil.copytree(paths.PROJECT_DIR, project, ignore=lambda folder, names: set() if Path(folder)
                    != paths.PROJECT_DIR else {name for name in names if name not in DBT_PROJECT_FILES})
    elsewhere.mkdir()
    project_before = snapshot(project)
    monkeypatch.setattr(paths, "PROJECT_DIR", project)
    monkeypatch.chdir(elsewhere)

    with shop_home(home):
        assert main(["data", "generate", "--scale", "0.005", "--seed", "1"]) == 0
        assert main(["data", "import", "online-retail",
                     str(CORPUS_DIR / "invoice_lines" / "absurd_quantities.csv")]) == 0
    build_shop(home)

    assert {path.name for path in home.iterdir()} <= SHOP_FOLDERS
    assert snapshot(project) == project_before
    assert list(elsewhere.iterdir()) == []
