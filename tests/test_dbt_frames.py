"""What the dbt Python models read: marts sorted by their key, trimmed, and one source at a time."""

import duckdb
import pandas as pd
import pytest

from ml.dbt_frames import MODEL_COLUMNS, SourceRows, to_pandas


@pytest.fixture
def order_lines() -> pd.DataFrame:
    # out of key order, with a column the models never read and a source name with a quote
    return pd.DataFrame({
        "order_line_id": ["l3", "l1", "l4", "l2"],
        "customer_id": ["c2", "c1", "c3", "c1"],
        "order_id": ["o2", "o1", "o3", "o1"],
        "product_id": ["p2", "p1", "p1", "p3"],
        "source_system": ["shop", "o'shop", "shop", "o'shop"],
        "ordered_at": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-01"]),
        "quantity": [1, 2, 3, 4],
        "line_amount": [1.0, 2.0, 3.0, 4.0],
        "is_cancellation": [False, False, True, False],
        "country": ["UK", "FR", None, "FR"],
        "unit_price": [1.0, 1.0, 1.0, 1.0],
    })


def mart_on(engine: str, order_lines: pd.DataFrame):
    """The order lines as the engine's relation: the frame itself, or a DuckDB relation over it."""
    if engine == "pandas":
        return order_lines
    connection = duckdb.connect()
    connection.register("order_lines_frame", order_lines)
    return connection.sql("select * from order_lines_frame")


def test_a_mart_is_read_sorted_by_its_key_with_the_columns_the_models_use(order_lines):
    frame = to_pandas(order_lines, "fct_order_lines")
    assert list(frame.columns) == list(MODEL_COLUMNS["fct_order_lines"])
    assert frame["order_id"].tolist() == ["o1", "o1", "o2", "o3"]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_source_rows_read_one_source_as_the_whole_mart_would_give_it(order_lines, engine):
    relation = mart_on(engine, order_lines)
    whole = to_pandas(order_lines, "fct_order_lines")
    for source in ["shop", "o'shop"]:
        expected = whole[whole["source_system"] == source].reset_index(drop=True)
        read = SourceRows(relation, "fct_order_lines").of(source)
        pd.testing.assert_frame_equal(read, expected, check_dtype=False)
    assert SourceRows(relation, "fct_order_lines").of("elsewhere").empty


def test_a_mart_stored_in_key_order_is_read_as_stored_and_one_stored_otherwise_is_sorted(
        order_lines):
    connection = duckdb.connect()
    connection.register("order_lines_frame", order_lines)
    expected = to_pandas(order_lines, "fct_order_lines")
    for order in ["order_line_id", "order_line_id desc"]:
        connection.execute("create or replace table lines as "
                           f"select * from order_lines_frame order by {order}")
        read = to_pandas(connection.table("lines"), "fct_order_lines")
        pd.testing.assert_frame_equal(read, expected, check_dtype=False)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_source_rows_can_read_fewer_columns(order_lines, engine):
    relation = mart_on(engine, order_lines)
    read = SourceRows(relation, "fct_order_lines").only(("order_id", "product_id")).of("shop")
    assert read.to_dict("list") == {"order_id": ["o2", "o3"], "product_id": ["p2", "p1"]}


@pytest.mark.parametrize("stored_order", ["order_line_id", "order_line_id desc"])
def test_source_rows_read_in_batches_give_the_rows_of_one_read(order_lines, stored_order):
    connection = duckdb.connect()
    connection.register("order_lines_frame", order_lines)
    connection.execute("create table lines as "
                       f"select * from order_lines_frame order by {stored_order}")
    rows = SourceRows(connection.table("lines"), "fct_order_lines")
    for source in ["shop", "o'shop", "elsewhere"]:
        batches = list(rows.batches(source, rows=1))
        assert all(len(batch) == 1 for batch in batches)
        read = pd.concat(batches, ignore_index=True) if batches else rows.of(source).iloc[:0]
        pd.testing.assert_frame_equal(read, rows.of(source), check_dtype=False)
    # Any other engine's rows come in one frame.
    assert [len(batch) for batch in SourceRows(order_lines, "fct_order_lines").batches("shop")] \
        == [2]
