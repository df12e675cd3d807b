import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from ml import features as F

CUTOFF = pd.Timestamp("2024-03-01")


def order_lines(rows: list[tuple]) -> pd.DataFrame:
    """rows: (customer_id, order_id, ordered_at, quantity, unit_price, is_cancellation)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "quantity",
                                        "unit_price", "is_cancellation"])
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], format="ISO8601")
    frame["product_id"] = "p:" + frame.index.astype(str)
    frame["line_amount"] = frame["quantity"] * frame["unit_price"]
    frame["source_system"] = "test"
    return frame


@pytest.fixture
def lines() -> pd.DataFrame:
    return order_lines([
        ("a", "o1", "2024-01-01 10:00", 2, 10.0, False),
        ("a", "o2", "2024-01-01 15:00", 1, 5.0, False),  # same day: one purchase day
        ("a", "o3", "2024-02-01", 1, 30.0, False),
        ("a", "c1", "2024-02-02", -1, 30.0, True),
        ("a", "o4", "2024-03-10", 1, 99.0, False),  # after the cutoff
        ("b", "o5", "2024-02-20", 3, 4.0, False),
        (None, "o6", "2024-02-21", 1, 7.0, False),  # guest
        ("c", "o7", "2024-03-05", 1, 7.0, False),  # first seen after the cutoff
    ])


def test_features_use_only_rows_before_the_cutoff(lines):
    features = F.customer_features(lines, CUTOFF)
    assert list(features.index) == ["a", "b"]
    a = features.loc["a"]
    assert a["orders"] == 3 and a["revenue"] == pytest.approx(55.0)
    assert a["return_orders"] == 1 and a["returned_amount"] == pytest.approx(30.0)
    assert a["days_since_last_order"] == pytest.approx(29.0)
    later = lines.assign(quantity=lines["quantity"].where(lines["ordered_at"] < CUTOFF, 500))
    later["line_amount"] = later["quantity"] * later["unit_price"]
    pd.testing.assert_frame_equal(F.customer_features(later, CUTOFF), features)


def test_lifetimes_summary_matches_lifetimes(lines):
    ours = F.lifetimes_summary(F.customer_orders(lines), CUTOFF)
    purchases = lines[~lines["is_cancellation"] & lines["customer_id"].notna()
                      & (lines["ordered_at"] < CUTOFF)]
    theirs = summary_data_from_transaction_data(
        purchases, "customer_id", "ordered_at", "line_amount",
        observation_period_end=CUTOFF - pd.Timedelta(days=1), freq="D")
    theirs["T"] += 1.0  # lifetimes' period end is inclusive; ours is the cutoff day itself
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_names=False,
                                  check_dtype=False)


def test_labels_and_holdout_revenue(lines):
    customers = pd.Index(["a", "b"])
    assert F.churn_labels(lines, customers, CUTOFF, 30).to_dict() == {"a": 0, "b": 1}
    revenue = F.holdout_revenue(lines, customers, CUTOFF, 30)
    assert revenue.to_dict() == {"a": 99.0, "b": 0.0}
    assert F.churn_labels(lines, customers, CUTOFF, 5).to_dict() == {"a": 1, "b": 1}


def test_events_add_site_activity(lines):
    # fct_customer_activity_days rows; the day of the cutoff (2024-03-01) and later are not seen
    events = pd.DataFrame({
        "customer_id": ["a", "a", "b", "a"],
        "activity_date": pd.to_datetime(["2024-02-25", "2024-02-26", "2023-12-01", "2024-03-02"]),
        "views": [1, 0, 1, 1], "carts": [0, 1, 0, 0], "sessions_started": [1, 0, 1, 1],
        "last_event_at": pd.to_datetime(["2024-02-25 10:00", "2024-02-26 09:00",
                                         "2023-12-01 08:00", "2024-03-02 12:00"])})
    features = F.customer_features(lines, CUTOFF, events)
    assert features.loc["a", ["views_last_30d", "carts_last_30d", "sessions"]].tolist() == [1, 1, 1]
    assert features.loc["a", "days_since_last_event"] == pytest.approx(
        (CUTOFF - pd.Timestamp("2024-02-26 09:00")) / pd.Timedelta(days=1))
    assert features.loc["b", "views_last_30d"] == 0 and features.loc["b", "sessions"] == 1


def test_basket_and_seasonal_goods_features(lines):
    products = pd.DataFrame({"product_id": ["p:0", "p:2"],
                             "description": ["CHRISTMAS TREE LIGHTS", None],
                             "category": [None, "Xmas decorations"]})
    features = F.customer_features(lines, CUTOFF, products=products)
    a = features.loc["a"]
    # a bought 2 + 1 + 1 units for 20 + 5 + 30 before the cutoff; p:0 (20) and p:2 (30) seasonal.
    assert a["avg_quantity_per_line"] == pytest.approx(4 / 3)
    assert a["avg_unit_price"] == pytest.approx(55 / 4)
    assert a["seasonal_spend_share"] == pytest.approx(50 / 55)
    assert features.loc["b", "seasonal_spend_share"] == 0.0
    assert "seasonal_spend_share" not in F.customer_features(lines, CUTOFF)
    with pytest.raises(ValueError, match=r"products lacks column\(s\) \['category'\]"):
        F.customer_features(lines, CUTOFF, products=products.drop(columns="category"))


def test_decayed_activity_and_gap_regularity():
    frame = order_lines([("a", "o1", "2024-01-01", 1, 10.0, False),
                         ("a", "o2", "2024-01-11", 1, 20.0, False),
                         ("a", "o3", "2024-02-10", 1, 40.0, False)])
    a = F.customer_features(frame, CUTOFF).loc["a"]
    ages = np.array([60.0, 50.0, 20.0])  # days from each purchase day to the cutoff day
    assert a["log_decayed_days_30d"] == pytest.approx(np.log1p(np.exp(-ages / 30).sum()))
    assert a["log_decayed_revenue_120d"] == pytest.approx(
        np.log1p((np.array([10.0, 20.0, 40.0]) * np.exp(-ages / 120)).sum()))
    assert a["gap_cv"] == pytest.approx(np.std([10.0, 30.0], ddof=1) / 20.0)
    # Two active calendar months over ceil(60 / 30.44) = 2 months since the first order.
    assert a["active_month_share"] == pytest.approx(1.0)


def test_missing_column_names_frame_and_column(lines):
    with pytest.raises(ValueError, match=r"order_lines lacks column\(s\) \['is_cancellation'\]"):
        F.customer_features(lines.drop(columns="is_cancellation"), CUTOFF)


def test_uci_reference_population(online_retail_file):
    from reference_data import uci_order_lines

    lines = uci_order_lines(online_retail_file)
    # country as fct_order_lines carries it: trimmed, every UCI line names one
    assert lines["country"].notna().all()
    assert (lines["country"] == lines["country"].str.strip()).all()
    assert lines.drop_duplicates("customer_id")["country"].mode()[0] == "United Kingdom"
    cutoff = F.default_cutoff(lines, 90)
    features = F.customer_features(lines, cutoff)
    churned = F.churn_labels(lines, features.index, cutoff, 90)
    assert len(features) == 3368  # the population
    assert churned.mean() == pytest.approx(0.43, abs=0.005)
    assert np.isfinite(features.drop(columns=[c for c in features if c.startswith("gap_")
                                              or c == "last_gap_days"])).all().all()


def test_product_popularity_is_the_mean_log_share_of_buyers():
    frame = order_lines([("a", "o1", "2024-01-01", 1, 10.0, False),
                         ("a", "o1", "2024-01-01", 1, 10.0, False),
                         ("b", "o2", "2024-01-05", 1, 10.0, False),
                         ("c", "o3", "2024-01-09", 1, 10.0, False),
                         ("c", "c1", "2024-01-10", -1, 10.0, True),  # returns do not count
                         ("b", "o4", "2024-03-05", 1, 10.0, False)])  # after the cutoff
    frame["product_id"] = ["best", "niche", "best", "other", "niche", "niche"]
    features = F.customer_features(frame, CUTOFF)
    # Before the cutoff 3 customers bought: "best" by a and b, "niche" by a, "other" by c.
    assert features.loc["a", "log_product_popularity"] == pytest.approx(
        (np.log(2 / 3) + np.log(1 / 3)) / 2)
    assert features.loc["b", "log_product_popularity"] == pytest.approx(np.log(2 / 3))
    assert features.loc["c", "log_product_popularity"] == pytest.approx(np.log(1 / 3))
    assert F.product_popularity(frame.iloc[:0]).empty


def test_order_history_per_source_matches_the_filtered_lines(lines):
    other = order_lines([("x", "o9", "2024-01-05", 2, 3.0, False),
                         ("y", "o10", "2024-02-05", 1, 8.0, False),
                         ("x", "c9", "2024-02-06", -1, 3.0, True)]).assign(source_system="other")
    both = pd.concat([lines, other], ignore_index=True)
    histories = F.order_histories(both)
    assert set(histories) == {"test", "other"} and histories["test"].customer_count == 3
    for source, history in histories.items():
        alone = both[both["source_system"] == source]
        pd.testing.assert_frame_equal(F.customer_features(history, CUTOFF),
                                      F.customer_features(alone, CUTOFF))
        customers = pd.Index(["a", "b", "x", "y"])
        pd.testing.assert_series_equal(F.holdout_revenue(history, customers, CUTOFF, 30),
                                       F.holdout_revenue(alone, customers, CUTOFF, 30))
    # Features are remembered per cutoff and handed out as copies.
    history = histories["test"]
    handed_out = history.features(CUTOFF)
    handed_out["orders"] = -1.0
    assert (history.features(CUTOFF)["orders"] > 0).all()
    orders = F.customer_orders(lines)
    assert orders.loc[orders["order_id"] == "o1", ["line_count", "product_count"]].values.tolist() \
        == [[1, 1]]


def test_an_order_history_read_in_batches_equals_the_one_of_the_whole_frame(lines):
    # Ids first seen in a later batch, out of sorted order; an order split across batches; a
    # guest line and a line without a product id.
    later = order_lines([("0", "o1", "2024-01-03", 1, 2.0, False),
                         ("z", "o8", "2024-02-03", 2, 3.0, False),
                         ("b", "o9", "2024-02-25", 1, 8.0, False),
                         (None, "o10", "2024-02-26", 1, 1.0, False)])
    whole = pd.concat([lines, later], ignore_index=True)
    whole["product_id"] = ["p2", "p1", "p2", "p3", "p1", None, "p3", "p2", "p1", "p4", "p2",
                           "p1"]
    expected = F.OrderHistory(whole)
    # One factorization of the whole columns, as pandas does it
    assert expected.customers.tolist() == ["0", "a", "b", "c", "z"]
    pd.testing.assert_index_equal(expected.order_ids, pd.Index(pd.factorize(whole["order_id"])[1]))
    pd.testing.assert_index_equal(
        expected.product_ids,
        pd.Index(pd.factorize(whole["product_id"], use_na_sentinel=False)[1]))
    for size in (1, 3, 5, len(whole)):
        batches = (whole.iloc[start:start + size] for start in range(0, len(whole), size))
        history = F.order_history_of_batches(batches)
        for ids in ("customers", "order_ids", "product_ids"):
            pd.testing.assert_index_equal(getattr(history, ids), getattr(expected, ids))
        pd.testing.assert_frame_equal(history.orders, expected.orders)
        pd.testing.assert_frame_equal(history.features(CUTOFF), expected.features(CUTOFF))
        pd.testing.assert_frame_equal(history.customer_orders(), expected.customer_orders())
        customers = pd.Index(["0", "a", "b", "z", "unknown"])
        pd.testing.assert_series_equal(F.churn_labels(history, customers, CUTOFF, 30),
                                       F.churn_labels(expected, customers, CUTOFF, 30))
    assert F.order_history_of_batches(iter([])) is None
    assert F.order_history_of_batches([whole.iloc[:0]]) is None
