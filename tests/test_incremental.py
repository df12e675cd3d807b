"""Incremental builds: a shop built without its last day, then given that day as new raw files
(events and invoice lines), is built incrementally, and every table of the event chain, the
invoice-line validation, the order, product and customer marts (and the quarantine and
reconciliation) is exactly the same as a full rebuild of the same raw files.

The increment is made harder than a daily export: it holds late events (one within the lookback
that joins two of a user's sessions into one, one weeks older than the lookback), an exact copy
of an event loaded before (a duplicate across the boundary), a row quarantined for its price, and
a second new file whose name sorts before the loaded ones, with another copy of a loaded event,
so that the loaded copy becomes the duplicate. The invoice increment has the same two kinds of
copy, and a line quarantined for its price."""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from warehouse_helpers import query, shop_home

from ml.build import build
from ml.cli import main
from ml.data.increment import (HELD_BACK_FOLDER, add_increment, held_back_path, last_day, row_dates,
                              split_last_day)

pytestmark = pytest.mark.slow

SCHEMAS = ("main", "intermediate", "data_quality")
# bookkeeping of what a build (re)processed: empty after a full build by design
NOT_COMPARED = {"int_events_batch", "int_invoice_lines_batch"}
EVENT_CHAIN = ["intermediate.int_events_validated", "main.fct_events", "main.fct_sessions",
               "main.fct_customer_product_activity", "main.fct_customer_activity_days",
               "data_quality.quarantined_rows", "data_quality.source_reconciliation"]
INVOICES = "online_retail_ii"  # the generated shop's invoice export
SEEDS = Path(__file__).resolve().parents[1] / "seeds"
# the invoice-line validation, and the marts an increment of lines or events updates in place
ORDER_CHAIN = ["intermediate.int_invoice_lines_validated", "main.fct_order_lines", "main.fct_orders",
               "main.dim_products", "main.dim_customers"]


def build_sql_layer(home: Path, *arguments: str):
    with shop_home(home):
        result = build(["--selector", "sql_layer", *arguments])
    assert result.succeeded, f"{result.summary}\nlog: {result.log_path}"
    return result


def with_time(rows: pa.Table, when: dt.datetime) -> pa.Table:
    text = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return rows.set_column(rows.schema.get_field_index("event_time"), "event_time",
                           pa.array([text] * rows.num_rows, pa.string()))


def event_times(table: pa.Table) -> list[dt.datetime]:
    return [dt.datetime.strptime(text.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S")
            for text in table["event_time"].to_pylist()]


def bridging_events(loaded: pa.Table, day: dt.date, lookback_days: int) -> pa.Table:
    """New events of a user with two loaded sessions 31 minutes to 2 days apart, within the
    lookback, spaced less than 30 minutes apart between them, so that both sessions become one
    (the later session's id changes)."""
    frame = loaded.append_column("at", pa.array(event_times(loaded), pa.timestamp("s"))).to_pandas()
    earliest = pd_timestamp(day - dt.timedelta(days=lookback_days))
    frame = frame[frame["at"] >= earliest].sort_values(["user_id", "at"], kind="stable")
    gap = frame.groupby("user_id")["at"].diff()
    bridged = frame[(gap > pd_minutes(31)) & (gap < pd_minutes(48 * 60))].sort_values("at")
    assert len(bridged), "no pair of sessions to bridge in the generated shop"
    row = bridged.index[0]
    steps = int(gap[row] / pd_minutes(25)) + 1
    times = [(frame.loc[row, "at"] - gap[row] * step / steps).to_pydatetime() for step in range(1, steps)]
    return pa.concat_tables(with_time(loaded.slice(int(row), 1), when) for when in times)


def pd_timestamp(day: dt.date):
    import pandas as pd
    return pd.Timestamp(day)


def pd_minutes(minutes: int):
    import pandas as pd
    return pd.Timedelta(minutes=minutes)


def increment_extras(raw_dir: Path, day: dt.date) -> tuple[pa.Table, pa.Table]:
    """Rows added to the held-back day (late, duplicate, dirty) and the rows of an early-named file."""
    loaded = pa.concat_tables(pq.read_table(part) for part in sorted((raw_dir / "events").glob("*.parquet")))
    clean = loaded.filter(pc.is_valid(row_dates(loaded["event_time"])))
    late = bridging_events(clean, day, lookback_days=3)
    very_late = with_time(clean.slice(10, 1), dt.datetime.combine(day - dt.timedelta(days=40),
                                                                   dt.time(12, 0, 1)))
    duplicate = clean.slice(20, 1)  # exact copy of a loaded event: the new copy is the duplicate
    negative = clean.slice(30, 1)
    negative = negative.set_column(negative.schema.get_field_index("price"), "price",
                                   pa.array([-1.0]).cast(negative.schema.field("price").type))
    early_named = clean.slice(40, 1)  # a copy that sorts first: the loaded event becomes the duplicate
    held_back = pq.read_table(held_back_path(raw_dir, "events", day))
    touched = {product for rows in [held_back, late, very_late, duplicate, negative, early_named]
               for product in rows["product_id"].to_pylist()}
    earlier, tied = product_edge_events(clean, touched)
    return pa.concat_tables([late, very_late, duplicate, negative, earlier]), pa.concat_tables([early_named, tied])


def product_edge_events(clean: pa.Table, touched: set) -> tuple[pa.Table, pa.Table]:
    """New events of two loaded products with no other event in the increment, by another user:
    one a minute before the first product's first event, and one at the second product's latest
    event time with another brand and price, for the early-named file. That tie goes by event_id,
    and the early-named file's is the lower, so the loaded event stays the latest."""
    others = clean.filter(pc.invert(pc.is_in(clean["product_id"], pa.array(sorted(touched)))))
    frame = others.append_column("at", pa.array(event_times(others), pa.timestamp("s"))).to_pandas()
    first, second = sorted(frame["product_id"].unique())[:2]
    first_row = frame[frame["product_id"] == first]["at"].idxmin()
    second_row = frame[frame["product_id"] == second]["at"].idxmax()
    other_user = frame.loc[frame["user_id"] != frame.loc[first_row, "user_id"], "user_id"].iloc[0]
    earlier = with_time(with_value(others.slice(int(first_row), 1), "user_id", other_user),
                        (frame.loc[first_row, "at"] - pd_minutes(1)).to_pydatetime())
    tied = with_value(with_value(others.slice(int(second_row), 1), "user_id", other_user),
                      "brand", "tiebreak")
    tied = with_value(tied, "price", tied["price"][0].as_py() + 1)
    return earlier, tied


def invoice_extras(raw_dir: Path) -> tuple[pa.Table, pa.Table]:
    """Invoice lines added to the held-back day and the lines of an early-named file.

    The day gets a copy of a loaded line, a line priced below zero and a guest's line on a loaded
    customer's invoice (the customer's totals change). The early-named file holds a copy whose
    loaded twin becomes the duplicate."""
    lines = pa.concat_tables(pq.read_table(part) for part in sorted((raw_dir / INVOICES).glob("*.parquet")))
    frame = lines.to_pandas()
    non_products = {code.upper() for code in
                    pa_csv.read_csv(SEEDS / "non_product_stock_codes.csv")["stock_code"].to_pylist()}
    # sold products on lines with no copy among the loaded ones, so each copy below has one twin
    single = (~frame.duplicated(keep=False) & (frame["Quantity"] > 0) & (frame["Price"] > 0)
              & frame["Customer ID"].notna() & ~frame["StockCode"].str.upper().isin(non_products))
    clean = lines.take(pa.array(single[single].index))
    copy, negative, early_named = clean.slice(20, 1), with_value(clean.slice(30, 1), "Price", -2.0), clean.slice(40, 1)
    # the guest's line goes on the invoice of a customer with no other line in the increment
    held_back = pq.read_table(next((raw_dir.parent / HELD_BACK_FOLDER / INVOICES).glob("*.parquet")))
    busy = set(held_back["Customer ID"].to_pylist()) | {
        rows["Customer ID"][0].as_py() for rows in (copy, negative, early_named)}
    host = clean.filter(pc.invert(pc.is_in(clean["Customer ID"], pa.array(list(busy))))).slice(0, 1)
    guest = with_value(with_value(host, "Customer ID", None), "Description", "GUEST LINE")
    return pa.concat_tables([copy, negative, guest]), early_named


def with_value(rows: pa.Table, column: str, value) -> pa.Table:
    field = rows.schema.field(column)
    return rows.set_column(rows.schema.get_field_index(column), field,
                           pa.array([value] * rows.num_rows, field.type))


@pytest.fixture(scope="module")
def shops(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("incremental")
    incremental, full = base / "incremental", base / "full"
    with shop_home(incremental):
        assert main(["data", "generate", "--scale", "0.01", "--seed", "5"]) == 0
    raw_dir = incremental / "data" / "raw"
    day = last_day(raw_dir)
    held_back = split_last_day(raw_dir)
    assert held_back == held_back_path(raw_dir, "events", day)
    assert last_day(raw_dir) < day
    held_back_invoices = split_last_day(raw_dir, INVOICES)
    first = build_sql_layer(incremental)
    assert first.summary.startswith("Build: full rebuild (no published warehouse yet)")

    extras, early_named = increment_extras(raw_dir, day)
    added = add_increment(raw_dir, held_back, extra_rows=extras)
    assert added.name == "part-00001.parquet"
    pq.write_table(early_named, raw_dir / "events" / "2019-backfill.parquet")
    extra_lines, early_named_lines = invoice_extras(raw_dir)
    add_increment(raw_dir, held_back_invoices, INVOICES, extra_lines)
    pq.write_table(early_named_lines, raw_dir / INVOICES / "2009-backfill.parquet")
    second = build_sql_layer(incremental)
    assert second.summary.startswith("Build: incremental")

    shutil.copytree(raw_dir, full / "data" / "raw")
    build_sql_layer(full)
    return {"incremental": incremental, "full": full}


def tables(home: Path) -> list[str]:
    return [f"{schema}.{name}" for schema, name in query(
        home, "select table_schema, table_name from information_schema.tables where table_type = "
              f"'BASE TABLE' and table_schema in {SCHEMAS} order by 1, 2") if name not in NOT_COMPARED]


def differences(shops: dict[str, Path], table: str) -> tuple[int, int, int, int]:
    """Rows of the incremental table missing from the full one and the other way (EXCEPT ALL),
    and both row counts."""
    connection = duckdb.connect()
    try:
        for name, home in shops.items():
            warehouse = home / "warehouse" / "globalshop.duckdb"
            connection.execute(f"attach '{warehouse}' as \"{name}\" (read_only)")
        extra, missing = (connection.execute(
            f'select count(*) from (select * from "{a}".{table} except all select * from "{b}".{table})'
        ).fetchall()[0][0] for a, b in (("incremental", "full"), ("full", "incremental")))
        counts = [connection.execute(f'select count(*) from "{name}".{table}').fetchall()[0][0]
                  for name in shops]
    finally:
        connection.close()
    return extra, missing, *counts


def test_both_builds_have_the_same_tables(shops):
    assert tables(shops["incremental"]) == tables(shops["full"])
    assert set(EVENT_CHAIN + ORDER_CHAIN) <= set(tables(shops["full"]))


@pytest.mark.parametrize("table", EVENT_CHAIN + ORDER_CHAIN)
def test_the_increment_gives_the_incremental_tables_of_a_full_rebuild(shops, table):
    extra, missing, incremental_rows, full_rows = differences(shops, table)
    assert (extra, missing) == (0, 0)
    assert incremental_rows == full_rows > 0


def test_every_other_table_is_the_same_too(shops):
    assert {table: differences(shops, table) for table in tables(shops["full"])
            if table not in EVENT_CHAIN + ORDER_CHAIN and differences(shops, table)[:2] != (0, 0)} == {}


def test_the_new_invoice_files_alone_were_validated(shops):
    home = shops["incremental"]
    batch = dict(query(home, "select batch_reason, count(*) from intermediate.int_invoice_lines_batch "
                             "group by 1"))
    held_back = next((home / "data" / HELD_BACK_FOLDER / INVOICES).glob("*.parquet"))
    # the held-back day with its three extra lines, and the early-named file's line
    new_lines = pq.ParquetFile(held_back).metadata.num_rows + 3 + 1
    # the loaded twins of the two copies are ranked again with them
    assert batch == {"new_file": new_lines, "duplicate_recheck": 2}


def test_the_dirty_invoice_increment_is_placed_as_a_full_build_places_it(shops):
    home = shops["incremental"]
    verdicts = dict(query(home, "select batch_reason || ' ' || coalesce(rejection_reason, 'clean'), "
                                "count(*) from intermediate.int_invoice_lines_batch where batch_reason "
                                "= 'duplicate_recheck' or raw_file_name = '2009-backfill.parquet' group by 1"))
    # the early-named copy keeps its place and its loaded twin becomes the duplicate; the held-back
    # day's copy is the duplicate and its twin stays clean
    assert verdicts == {"new_file clean": 1, "duplicate_recheck duplicate_line": 1,
                        "duplicate_recheck clean": 1}
    assert query(home, "select count(*) from intermediate.int_invoice_lines_batch where batch_reason = "
                       "'new_file' and rejection_reason = 'non_positive_price' and unit_price = -2") == [(1,)]


def test_loaded_order_lines_keep_their_place_in_key_order(shops):
    """Only the early-named file's line is out of key order: the loaded lines rechecked against
    new copies stay where they were (the Python models read a source in key order as stored)."""
    stored = [order_line_id for (order_line_id,) in query(
        shops["incremental"], "select order_line_id from fct_order_lines where source_system = "
                              f"'{INVOICES}' order by rowid")]
    others = [line for line in stored if ":2009-backfill.parquet:" not in line]
    assert len(others) == len(stored) - 1
    assert others == sorted(others) and stored != sorted(stored)


def test_the_dirty_increment_is_placed_as_a_full_build_places_it(shops):
    home = shops["incremental"]
    reasons = dict(query(home, "select rejection_reason, count(*) from data_quality.quarantined_rows "
                               "where source_system = 'events' group by 1"))
    assert reasons == {"duplicate_event": 2, "negative_price": 1}
    # the loaded copy of the early-named file's event is now the duplicate, as in a full build
    [(demoted,)] = query(home, "select count(*) from intermediate.int_events_validated "
                               "where rejection_reason = 'duplicate_event' and raw_file_name = 'part-00000.parquet'")
    assert demoted == 1


def test_events_older_than_the_lookback_are_processed_and_reported(shops):
    home = shops["incremental"]
    listed = dict(query(home, "select event_at, raw_row_id from test_failures.events_arrived_after_lookback"))
    very_late = dt.datetime.combine(last_day(home / "data" / "raw") - dt.timedelta(days=40),
                                    dt.time(12, 0, 1))
    assert very_late in listed  # and the early-named file's event, of 2019-10-01
    assert query(home, f"select count(*) from fct_events where event_id = 'events:{listed[very_late]}'") == [(1,)]
    log = (home / "logs" / "dbt_build.log").read_text()
    assert "WARN" in log and "events_arrived_after_lookback" in log
    assert query(shops["full"], "select count(*) from test_failures.events_arrived_after_lookback") == [(0,)]


def test_a_second_build_without_new_files_changes_nothing(shops, tmp_path):
    home = tmp_path / "again"
    shutil.copytree(shops["incremental"] / "data", home / "data")
    shutil.copytree(shops["incremental"] / "warehouse", home / "warehouse")
    result = build_sql_layer(home)
    assert result.summary.startswith("Build: incremental")
    assert query(home, "select count(*) from intermediate.int_events_batch") == [(0,)]
    assert query(home, "select count(*) from intermediate.int_invoice_lines_batch") == [(0,)]
    for table in EVENT_CHAIN + ORDER_CHAIN:
        assert differences({"incremental": home, "full": shops["full"]}, table)[:2] == (0, 0)


def test_a_changed_raw_file_or_full_refresh_rebuilds_in_full(shops, tmp_path):
    home = tmp_path / "changed"
    shutil.copytree(shops["incremental"] / "data", home / "data")
    shutil.copytree(shops["incremental"] / "warehouse", home / "warehouse")
    (home / "data" / "raw" / "events" / "2019-backfill.parquet").unlink()
    result = build_sql_layer(home)
    assert "full rebuild (raw file" in result.summary and "is gone" in result.summary
    assert query(home, "select count(*) from intermediate.int_events_validated "
                       "where raw_file_name = '2019-backfill.parquet'") == [(0,)]
    result = build_sql_layer(home, "--full-refresh")
    assert result.summary.startswith("Build: full rebuild (--full-refresh)")
