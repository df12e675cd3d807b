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
    events = pd.DataFrame({
        "customer_id": ["a", "a", "b", "a"], "product_id": ["p", "p", "p", "p"],
        "event_type": ["view", "cart", "view", "view"],
        "event_at": pd.to_datetime(["2024-02-25", "2024-02-26", "2023-12-01", "2024-03-02"]),
        "session_id": ["s1", "s1", "s2", "s3"]})
    features = F.customer_features(lines, CUTOFF, events)
    assert features.loc["a", ["views_last_30d", "carts_last_30d", "sessions"]].tolist() == [1, 1, 1]
    assert features.loc["b", "views_last_30d"] == 0 and features.loc["b", "sessions"] == 1


def test_missing_column_names_frame_and_column(lines):
    with pytest.raises(ValueError, match=r"order_lines lacks column\(s\) \['is_cancellation'\]"):
        F.customer_features(lines.drop(columns="is_cancellation"), CUTOFF)


def test_uci_reference_population(online_retail_file):
    from reference_data import uci_order_lines

    lines = uci_order_lines(online_retail_file)
    cutoff = F.default_cutoff(lines, 90)
    features = F.customer_features(lines, cutoff)
    churned = F.churn_labels(lines, features.index, cutoff, 90)
    assert len(features) == 3368  # the population
    assert churned.mean() == pytest.approx(0.43, abs=0.005)
    assert np.isfinite(features.drop(columns=[c for c in features if c.startswith("gap_")
                                              or c == "last_gap_days"])).all().all()
