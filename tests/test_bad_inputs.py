"""The bad input corpus (tests/bad_inputs/cases.py), through the `globalshop` command.

Refused files fail with a message naming the file, the problem and the fix, and write nothing.
Accepted files lose no row: each row reaches the marts or is quarantined with its declared reason,
and the reconciliation accounts for every one.
"""

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from bad_inputs.cases import (ACCEPTED, CORPUS_DIR, CORPUS_VARS, REFUSED, Accepted,
                              case_id, corpus_file)
from warehouse_helpers import shop_home

from ml.build import BuildResult, build
from ml.cli import main
from ml.data.formats import RAW_FORMATS

GOOD_FILE = CORPUS_DIR / "invoice_lines" / "customer_ids_as_floats.csv"


def folder_snapshot(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def run_cli(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        exit_code = main(list(arguments))
    return exit_code, out.getvalue(), err.getvalue()


def query(home: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    connection = duckdb.connect(str(home / "warehouse" / "globalshop.duckdb"), read_only=True)
    try:
        return connection.execute(sql, parameters or []).fetchall()
    finally:
        connection.close()


# Refused: a clear error, and nothing written.

@pytest.fixture
def shop_with_an_import(tmp_path: Path) -> Path:
    with shop_home(tmp_path):
        assert run_cli("data", "import", "online-retail", str(GOOD_FILE))[0] == 0
    return tmp_path


@pytest.mark.parametrize("case", REFUSED, ids=case_id)
def test_a_refused_file_gets_a_clear_error_and_changes_nothing(case, shop_with_an_import):
    path = corpus_file(case, shop_with_an_import / "inputs")
    before = folder_snapshot(shop_with_an_import / "data")

    with shop_home(shop_with_an_import):
        exit_code, _, error = run_cli("data", "import", case.kind, str(path))

    assert exit_code == 1
    assert error.startswith(f"error: {path}")
    assert [fragment for fragment in case.message if fragment not in error] == []
    assert "Traceback" not in error
    assert folder_snapshot(shop_with_an_import / "data") == before


def test_the_command_prints_the_error_without_a_traceback(tmp_path):
    globalshop = Path(sys.executable).with_name("globalshop")
    bad_file = CORPUS_DIR / "refused" / "missing_column.csv"

    result = subprocess.run([str(globalshop), "data", "import", "online-retail", str(bad_file)],
                            env={**os.environ, "GLOBALSHOP_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {bad_file}: missing column(s) 'UnitPrice'")
    assert "Traceback" not in result.stderr
    assert [path for path in (tmp_path / "data").rglob("*") if path.is_file()] == []


def test_a_file_copied_into_raw_by_hand_is_refused_before_dbt_runs(shop_with_an_import):
    by_hand = shop_with_an_import / "data" / "raw" / "online_retail" / "by_hand.parquet"
    by_hand.write_bytes(GOOD_FILE.read_bytes())

    with shop_home(shop_with_an_import):
        exit_code, _, error = run_cli("build")

    assert exit_code == 1
    assert f"{by_hand}: not a readable Parquet file" in error
    assert "globalshop data import KIND PATH" in error
    assert "Traceback" not in error
    assert not (shop_with_an_import / "warehouse" / "globalshop.duckdb").exists()
    assert not (shop_with_an_import / "logs" / "dbt_build.log").exists()


# Accepted: every row clean or quarantined, in one shop built once.

def import_and_build(home: Path, cases: list[Accepted]) -> tuple[dict[str, str], BuildResult]:
    """Import every case's file with `globalshop data import --append`, then build once."""
    import_output = {}
    with shop_home(home):
        for case in cases:
            path = corpus_file(case, home / "inputs")
            outputs = []
            for _ in range(case.imports):
                exit_code, output, error = run_cli("data", "import", case.kind, str(path), "--append")
                assert exit_code == 0, error
                outputs.append(output)
            import_output[case.file] = "".join(outputs)
        # the cleaning layer is what the corpus tests; scoring needs a shop with a history
        result = build(["--vars", json.dumps(CORPUS_VARS), "--selector", "sql_layer"])
    return import_output, result


@pytest.fixture(scope="module")
def corpus_shop(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("corpus_shop")
    import_output, result = import_and_build(home, ACCEPTED)
    assert result.succeeded, f"{result.summary}\nlog: {result.log_path}"
    return home, import_output


def imported_files(home: Path, case: Accepted) -> list[Path]:
    folder = home / "data" / "raw" / RAW_FORMATS[case.kind].folder
    stem = Path(case.file).stem
    names = [f"{stem}.parquet"] + [f"{stem}_{number}.parquet" for number in range(2, case.imports + 1)]
    return [folder / name for name in names]


def assert_every_row_is_clean_or_quarantined(home: Path, case: Accepted) -> None:
    source = RAW_FORMATS[case.kind].folder
    files = [path.name for path in imported_files(home, case)]
    clean_table, clean_id = ("fct_events", "event_id") if source == "events" else \
        ("fct_order_lines", "order_line_id")

    raw_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in imported_files(home, case))
    quarantined = dict(query(
        home, "select rejection_reason, count(*) from data_quality.quarantined_rows "
              "where source_system = ? and split_part(raw_row_id, ':', 1) in ? group by 1",
        [source, files]))
    [(clean,)] = query(home, f"select count(*) from {clean_table} "
                             f"where split_part({clean_id}, ':', 2) in ?", [files])

    assert quarantined == case.quarantined
    assert clean == case.clean
    assert raw_rows == case.rows == clean + sum(quarantined.values())
    if case.make is None:
        data_lines = len(corpus_file(case, home).read_bytes().splitlines()) - 1
        assert raw_rows == data_lines * case.imports


@pytest.mark.parametrize("case", ACCEPTED, ids=case_id)
def test_every_row_of_an_accepted_file_is_clean_or_quarantined_with_its_reason(case, corpus_shop):
    home, _ = corpus_shop
    assert_every_row_is_clean_or_quarantined(home, case)


@pytest.mark.parametrize("case", [case for case in ACCEPTED if case.warning], ids=case_id)
def test_the_importer_reports_what_it_met(case, corpus_shop):
    _, import_output = corpus_shop
    assert case.warning in import_output[case.file]


def test_the_reconciliation_accounts_for_every_corpus_row(corpus_shop):
    home, _ = corpus_shop
    declared = {}
    for case in ACCEPTED:
        source = RAW_FORMATS[case.kind].folder
        declared[source] = declared.get(source, 0) + case.rows
    rows = query(home, "select source_system, raw_rows, unaccounted_rows "
                       "from data_quality.source_reconciliation order by 1")
    assert rows == [(source, declared[source], 0) for source in sorted(declared)]


def test_float_customer_ids_become_integer_keys(corpus_shop):
    home, _ = corpus_shop
    keys = {key for (key,) in query(home, "select customer_id from dim_customers "
                                          "where source_system = 'online_retail'")}
    assert {"online_retail:12346", "online_retail:12347"} <= keys
    assert not any("." in key for key in keys)


def test_padded_values_are_read_trimmed(corpus_shop):
    home, _ = corpus_shop
    lines = query(home, "select source_order_id, customer_id, product_id, description, country, "
                        "quantity, unit_price from fct_order_lines "
                        "where source_order_id in ('549101', '549103') order by 1")
    assert lines == [
        ("549101", "online_retail:12371", "online_retail:22423", "REGENCY CAKESTAND 3 TIER",
         "United Kingdom", 2, 12.75),
        ("549103", "online_retail:12373", "online_retail:84879", "ASSORTED COLOUR BIRD ORNAMENT",
         "Norway", 8, 1.69),
    ]


def test_mis_encoded_text_keeps_its_characters(corpus_shop):
    home, _ = corpus_shop
    descriptions = {description for (description,) in query(
        home, "select description from fct_order_lines where source_order_id in ('548001', '548002')")}
    assert descriptions == {"CAFÉ BUILDING BLOCK WORD", "£5 GIFT VOUCHER"}


def test_a_truncated_line_is_kept_whole_in_the_quarantine(corpus_shop):
    home, _ = corpus_shop
    rows = query(home, "select raw_record from data_quality.quarantined_rows "
                       "where raw_row_id like 'truncated_last_line.parquet:%'")
    assert sorted(rows) == [
        ("2019-10-01 02:50:00 UTC|view|10900305|2053013555069845885|appliances.kitchen.mixer|"
         "elenberg|25.71|5204|",),
        ("546003|22726|ALARM CLOCK BAKELIKE GR|||||",),
    ]
