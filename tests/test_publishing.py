"""Safe publishing (ml/publish.py), with real concurrent processes: readers keep working during a
rebuild and never see a mix of two builds; a build that fails its tests or is killed leaves the
published warehouse byte for byte as it was, and the next build recovers."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from bad_inputs.cases import CORPUS_DIR
from warehouse_helpers import shop_home

from ml import paths
from ml.build import build, run_dbt
from ml.cli import main
from ml.publish import building_path, wal_path

READERS_THAT_RECONNECT = 3
DBT_PROJECT_FILES = {"dbt_project.yml", "profiles.yml", "selectors.yml", "models", "macros", "seeds",
                     "python_models", "analyses"}
# One connection per query, as a dashboard does; or one connection held open, as a BI tool does.
READER = r"""
import json, pathlib, sys, time
import duckdb

warehouse, ready, stop, mode = sys.argv[1:5]
states, queries, errors = [], 0, []
held = duckdb.connect(warehouse, read_only=True) if mode == "hold" else None
while not pathlib.Path(stop).exists():
    try:
        connection = held or duckdb.connect(warehouse, read_only=True)
        # two tables, two statements, one connection: both must come from the same build
        lines = connection.execute("select count(*) from fct_order_lines").fetchall()[0][0]
        raw = connection.execute(
            "select sum(raw_rows) from data_quality.source_reconciliation").fetchall()[0][0]
        if held is None:
            connection.close()
        state = [lines, int(raw)]
        if not states or states[-1] != state:
            states.append(state)
        queries += 1
        pathlib.Path(ready).touch()
    except Exception as error:
        errors.append(repr(error))
    time.sleep(0.05)
print(json.dumps({"states": states, "queries": queries, "errors": errors[:5],
                  "error_count": len(errors)}))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def warehouse_state(warehouse: Path) -> list[int]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        lines = connection.execute("select count(*) from fct_order_lines").fetchall()[0][0]
        raw = connection.execute("select sum(raw_rows) from data_quality.source_reconciliation").fetchall()[0][0]
    finally:
        connection.close()
    return [lines, int(raw)]


def import_another_source(home: Path, name: str) -> None:
    """Change the shop's inputs, so the next build differs from the published one."""
    with shop_home(home):
        assert main(["data", "import", "online-retail", str(CORPUS_DIR / "invoice_lines" / name),
                     "--append"]) == 0


def build_sql_layer(home: Path) -> None:
    """Build and publish; the dbt Python models (scores) are left out to keep the test quick,
    since publishing treats every table alike."""
    with shop_home(home):
        result = build(["--selector", "sql_layer"])
    assert result.succeeded, f"{result.summary}\nlog: {result.log_path}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("published_shop")
    with shop_home(home):
        assert main(["data", "generate", "--scale", "0.01", "--seed", "11"]) == 0
    build_sql_layer(home)
    return home


def start_reader(warehouse: Path, work: Path, name: str, mode: str) -> tuple[subprocess.Popen, Path]:
    ready = work / f"{name}.ready"
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse), str(ready), str(work / "stop"), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, ready


def copy_of_the_project(destination: Path) -> Path:
    """The dbt project's files, copied to ``destination`` (another checkout, as dbt sees it)."""
    def outside_dbt(folder: str, names: list[str]) -> set[str]:
        if Path(folder) != paths.PROJECT_DIR:
            return set()
        return {name for name in names if name not in DBT_PROJECT_FILES}

    shutil.copytree(paths.PROJECT_DIR, destination, ignore=outside_dbt)
    return destination


def copy_of_the_project_with_a_failing_test(destination: Path) -> Path:
    copy_of_the_project(destination)
    failing_test = destination / "tests" / "dbt" / "every_invoice_line_is_rejected.sql"
    failing_test.parent.mkdir(parents=True)
    # fails on any shop with invoices, right after the first staging model is built
    failing_test.write_text("select * from {{ ref('stg_online_retail_ii__invoice_lines') }}\n")
    return destination


def test_a_build_that_fails_its_tests_leaves_the_published_warehouse_as_it_was(
        shop, tmp_path, monkeypatch):
    warehouse = shop / "warehouse" / "globalshop.duckdb"
    before = sha256(warehouse)
    monkeypatch.setattr(paths, "PROJECT_DIR", copy_of_the_project_with_a_failing_test(tmp_path / "project"))
    import_another_source(shop, "zero_and_negative_prices.csv")

    with shop_home(shop):
        result = build()

    assert not result.succeeded
    assert "every_invoice_line_is_rejected" in result.summary
    assert f"the published warehouse {warehouse} is unchanged" in result.summary
    assert sha256(warehouse) == before
    assert building_path(warehouse).exists()  # kept for inspection
    assert not wal_path(warehouse).exists()


def dbt_child(cli: subprocess.Popen) -> int | None:
    """The dbt process of a running `globalshop build`. An incremental build copies the published
    warehouse into the building file before it starts dbt, so wait for dbt a little."""
    children = Path(f"/proc/{cli.pid}/task/{cli.pid}/children")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cli.poll() is None:
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return int(pids[0])
        time.sleep(0.05)
    return None


def start_build_and_wait_until_dbt_writes(home: Path) -> subprocess.Popen:
    cli = subprocess.Popen([str(Path(sys.executable).with_name("globalshop")), "build"],
                           env={**os.environ, "GLOBALSHOP_HOME": str(home)}, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    building = building_path(home / "warehouse" / "globalshop.duckdb")
    stale = building.stat().st_ino if building.exists() else None
    deadline = time.monotonic() + 120
    # a new building file (not a killed build's), with the first tables in it
    while not (building.exists() and building.stat().st_ino != stale
               and building.stat().st_size > 1_000_000):
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline, "dbt never started writing"
        time.sleep(0.1)
    return cli


def crash_a_plain_writer(warehouse: Path) -> None:
    """What a killed plain `dbt build` leaves: a write-ahead log beside the published file."""
    writer = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, os, signal, sys\n"
        "connection = duckdb.connect(sys.argv[1])\n"
        "connection.execute('create table half_written as select 1 as x')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"), str(warehouse)])
    writer.wait(timeout=60)
    assert wal_path(warehouse).exists()


def start_readers(warehouse: Path, work: Path) -> dict[str, subprocess.Popen]:
    readers = {f"reconnecting-{number}": start_reader(warehouse, work, f"r{number}", "reconnect")
               for number in range(READERS_THAT_RECONNECT)}
    readers["holding"] = start_reader(warehouse, work, "holding", "hold")
    deadline = time.monotonic() + 120
    while not all(ready.exists() for _, ready in readers.values()):
        assert time.monotonic() < deadline, "the readers never managed a first query"
        time.sleep(0.1)
    return {name: process for name, (process, _) in readers.items()}


def stop_readers(readers: dict[str, subprocess.Popen], work: Path) -> dict[str, dict]:
    (work / "stop").touch()
    return {name: json.loads(process.communicate(timeout=60)[0]) for name, process in readers.items()}


@pytest.mark.slow
def test_readers_keep_working_through_killed_builds_and_the_rebuild_that_recovers(
        shop, tmp_path, capsys):
    warehouse = shop / "warehouse" / "globalshop.duckdb"
    # a plain writer killed on the published file (a plain `dbt build`, say) leaves a write-ahead
    # log there, which DuckDB would replay onto whatever file has that name
    crash_a_plain_writer(warehouse)
    before, old_state = sha256(warehouse), warehouse_state(warehouse)
    import_another_source(shop, "absurd_quantities.csv")
    readers = start_readers(warehouse, tmp_path)

    # SIGKILL to the whole build (command and dbt), halfway through dbt
    cli = start_build_and_wait_until_dbt_writes(shop)
    with shop_home(shop):
        assert main(["build"]) == 1  # a second build is refused while the first runs
    assert "another build of" in capsys.readouterr().err
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(timeout=60)
    assert sha256(warehouse) == before
    assert building_path(warehouse).exists()  # the stale building file

    # SIGKILL to dbt alone, as the out-of-memory killer would: the command reports it
    cli = start_build_and_wait_until_dbt_writes(shop)
    os.kill(dbt_child(cli), signal.SIGKILL)
    output, error = cli.communicate(timeout=120)
    assert cli.returncode == 1
    assert f"the published warehouse {warehouse} is unchanged" in output
    assert error.startswith("error: dbt build failed")
    assert sha256(warehouse) == before

    build_sql_layer(shop)
    new_state = warehouse_state(warehouse)
    time.sleep(2)  # let every reconnecting reader see the new build
    reports = stop_readers(readers, tmp_path)

    print(f"readers: {len(reports)} processes, {sum(r['queries'] for r in reports.values())} "
          "queries of two tables each, through 2 killed builds and 1 rebuild")
    assert new_state != old_state
    assert {name: report["errors"] for name, report in reports.items()} == {name: [] for name in reports}
    assert reports.pop("holding")["states"] == [old_state]
    assert {name: report["states"] for name, report in reports.items()} == \
        {name: [old_state, new_state] for name in reports}
    assert not wal_path(warehouse).exists()
    assert not building_path(warehouse).exists()
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {name for (name,) in connection.execute(
            "select table_name from information_schema.tables").fetchall()}
    finally:
        connection.close()
    assert "half_written" not in tables and "fct_orders" in tables


def test_a_shop_built_from_a_checkout_since_removed_builds_from_another(tmp_path, monkeypatch):
    # dbt's partial-parse cache in the shop's target/ holds the absolute paths of the checkout
    # that wrote it; built from another checkout, the seeds were read from the removed one
    checkout = copy_of_the_project(tmp_path / "checkout")
    with shop_home(tmp_path / "shop"):
        monkeypatch.setattr(paths, "PROJECT_DIR", checkout)
        assert run_dbt(["seed"], "seed.log")[0] == 0
        shutil.rmtree(checkout)
        monkeypatch.undo()
        code, log = run_dbt(["seed"], "seed.log")
    assert code == 0, log.read_text()[-3000:]
