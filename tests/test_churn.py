import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.datasets import load_cdnow_summary
from threadpoolctl import threadpool_limits

from ml import churn
from ml.churn import LINEAR_COLUMNS
from ml.model_registry import DataWindow, metric_rows, model_version


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(limits=1):  # 2 shared cores: OpenMP threads only contend
        yield


def synthetic_features(customers: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Features where churn follows recency and frequency through a known logistic link."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=customers) for c in LINEAR_COLUMNS},
                         index=pd.Index([f"c{seed}_{i}" for i in range(customers)],
                                        name="customer_id"))
    frame["days_since_last_order"] = np.exp(frame["log_days_since_last_order"])
    logit = 1.5 * frame["log_days_since_last_order"] - 1.0 * frame["log_orders"]
    churned = pd.Series((rng.random(customers) < 1 / (1 + np.exp(-logit))).astype(int),
                        index=frame.index, name="churned")
    return frame, churned


def test_churn_model_learns_a_known_signal_deterministically():
    train, train_y = synthetic_features(1500, seed=1)
    test, test_y = synthetic_features(1000, seed=2)
    model = churn.ChurnModel(max_iter=100).fit(train, train_y)
    probability = model.predict(test)
    assert probability.between(0, 1).all()
    metrics = churn.churn_metrics(test_y, probability)
    assert metrics["roc_auc"] > 0.75 and metrics["brier"] < 0.2
    again = churn.ChurnModel(max_iter=100).fit(train, train_y).predict(test)
    pd.testing.assert_series_equal(probability, again)
    drivers = model.drivers(test.head(50))
    assert list(drivers.columns) == ["driver_1", "driver_2", "driver_3"]
    riskiest = probability.head(50).idxmax()
    assert drivers.loc[riskiest, "driver_1"] in {"recency", "frequency"}


def test_fit_without_labels_is_an_error():
    features, _ = synthetic_features(50, seed=3)
    with pytest.raises(ValueError, match="needs target"):
        churn.ChurnModel().fit(features)


def test_risk_tiers_and_lift():
    probability = pd.Series([0.05, 0.4, 0.69, 0.7, 0.99])
    assert churn.risk_tier(probability).tolist() == ["low", "medium", "medium", "high", "high"]
    churned = pd.Series([1] * 10 + [0] * 10)
    perfect = pd.Series(np.linspace(1, 0, 20))
    assert churn.top_decile_lift(churned, perfect) == pytest.approx(2.0)


def test_probability_no_purchase_matches_simulation_limits():
    summary = load_cdnow_summary().set_index("ID")
    fitter = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    none_soon = churn.probability_no_purchase(fitter, summary, 1e-9)
    np.testing.assert_allclose(none_soon, 1.0, atol=1e-6)
    none_52 = churn.probability_no_purchase(fitter, summary, 52.0)
    none_26 = churn.probability_no_purchase(fitter, summary, 26.0)
    assert (none_52 <= none_26 + 1e-12).all()
    # P(at least one purchase) can never exceed the expected number of purchases.
    expected = fitter.conditional_expected_number_of_purchases_up_to_time(
        52.0, summary["frequency"], summary["recency"], summary["T"])
    assert (1 - none_52 <= expected + 1e-9).all()


def test_score_rows_carry_metadata_and_versions_move_with_inputs():
    train, train_y = synthetic_features(400, seed=4)
    model = churn.ChurnModel(max_iter=50).fit(train, train_y)
    window = DataWindow(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-01"))
    version = model_version(churn.ChurnModel, model.params(), window)
    assert version == model_version(churn.ChurnModel, model.params(), window)
    assert version != model_version(churn.ChurnModel, {**model.params(), "max_iter": 51}, window)
    assert version != model_version(churn.ChurnModel, model.params(),
                                    DataWindow(window.train_start, pd.Timestamp("2024-07-01")))
    scored_at = pd.Timestamp("2024-06-02 03:00")
    rows = churn.score_churn(model, train.head(5), version, scored_at, pd.Timestamp("2024-06-01"))
    assert {"customer_id", "churn_probability", "risk_tier", "driver_1", "model_name",
            "model_version", "scored_at", "as_of_date"} <= set(rows.columns)
    assert (rows["scored_at"] == scored_at).all() and (rows["model_version"] == version).all()


def test_metric_rows_put_the_best_baseline_beside_each_metric():
    window = DataWindow(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-01"))
    rows = metric_rows("run1", "churn", "v1", window, {"roc_auc": 0.8, "brier": 0.18}, 100,
                       baselines={"recency": {"roc_auc": 0.7, "brier": 0.22},
                                  "bg_nbd": {"roc_auc": 0.75, "brier": 0.21}})
    by_metric = rows.set_index("metric")
    assert by_metric.loc["roc_auc", "baseline_name"] == "bg_nbd"
    assert by_metric.loc["brier", ["baseline_name", "baseline_value"]].tolist() == ["bg_nbd", 0.21]


@pytest.mark.slow
def test_uci_out_of_time_churn_beats_its_baselines(online_retail_file):
    from reference_data import uci_order_lines

    from ml.evaluate_customer_models import evaluate_churn
    from ml.features import default_cutoff

    lines = uci_order_lines(online_retail_file)
    validation = evaluate_churn(lines, default_cutoff(lines, 90), 90, "test")
    rows = validation.metrics
    model = rows[rows["model_name"] == "churn_gradient_boosting"].set_index("metric")
    assert len(validation.predictions) == 3_368
    assert validation.predictions["actual"].mean() == pytest.approx(0.430, abs=0.001)
    # Honest floor, not the 0.765 bar (not reached: see the report / BENCHMARKS.md).
    assert model.loc["roc_auc", "value"] > 0.735
    assert model.loc["roc_auc", "value"] > model.loc["roc_auc", "baseline_value"]
    assert model.loc["top_decile_lift", "value"] > 1.5
    assert model.loc["brier", "value"] < 0.215


def test_every_feature_column_has_a_driver_group():
    from test_features import order_lines

    from ml.features import customer_features

    lines = order_lines([("a", "o1", "2024-01-01", 2, 10.0, False),
                         ("a", "o2", "2024-02-01", 1, 5.0, False),
                         ("a", "c1", "2024-02-02", -1, 5.0, True)])
    products = pd.DataFrame({"product_id": ["p:0"], "description": ["ADVENT CALENDAR"],
                             "category": [None]})
    events = pd.DataFrame({"customer_id": ["a"], "activity_date": pd.to_datetime(["2024-02-20"]),
                           "views": [1], "carts": [0], "sessions_started": [1],
                           "last_event_at": pd.to_datetime(["2024-02-20 10:00"])})
    features = customer_features(lines, pd.Timestamp("2024-03-01"), events, products)
    grouped = {column for columns in churn.DRIVER_GROUPS.values() for column in columns}
    assert set(features.columns) <= grouped


def test_churn_model_leaves_out_the_excluded_columns():
    train, train_y = synthetic_features(600, seed=5)
    train["log_product_popularity"] = np.random.default_rng(5).normal(size=len(train))
    assert "log_product_popularity" in churn.CHURN_EXCLUDED_COLUMNS
    assert churn.churn_columns(train) == [c for c in train.columns
                                          if c != "log_product_popularity"]
    model = churn.ChurnModel(max_iter=50).fit(train, train_y)
    assert "log_product_popularity" not in model.columns_
    without = churn.ChurnModel(max_iter=50).fit(
        train.drop(columns="log_product_popularity"), train_y)
    pd.testing.assert_series_equal(model.predict(train), without.predict(train))


def test_driver_attributions_equal_predicting_each_perturbed_copy():
    train, train_y = synthetic_features(600, seed=6)
    model = churn.ChurnModel(max_iter=40).fit(train, train_y)
    test, _ = synthetic_features(200, seed=7)
    vote = model.model_.calibrated_classifiers_[0].estimator
    columns = test[model.columns_]
    base, perturbed = churn._vote_without_groups(vote, columns, model.medians_[model.columns_],
                                                 model._groups())
    np.testing.assert_allclose(base, vote.predict_proba(columns)[:, 1], atol=1e-12)
    for group, group_columns in model._groups().items():
        changed = columns.copy()
        changed[group_columns] = model.medians_[group_columns].to_numpy()
        np.testing.assert_allclose(perturbed[group], vote.predict_proba(changed)[:, 1],
                                   atol=1e-12)


def simulated_shop(customers: int, future_follows_past: bool, seed: int) -> pd.DataFrame:
    """Order lines of customers with Poisson purchase rates from one a week to one a year, over
    a year before 2024-01-01 and 90 days after it. With ``future_follows_past`` each customer
    keeps their rate after the cutoff; otherwise every customer's rate after it is redrawn."""
    rng = np.random.default_rng(seed)
    cutoff = pd.Timestamp("2024-01-01")
    rows = []
    for customer in range(customers):
        rate = np.exp(rng.uniform(np.log(1 / 365), np.log(1 / 7)))
        after = rate if future_follows_past else np.exp(rng.uniform(np.log(1 / 365),
                                                                   np.log(1 / 7)))
        days = np.r_[-np.sort(rng.uniform(0, 365, rng.poisson(rate * 365) + 1)),
                     rng.uniform(0, 90, rng.poisson(after * 90))]
        rows += [(f"c{customer}", f"o{customer}_{i}", cutoff + pd.Timedelta(days=day))
                 for i, day in enumerate(days)]
    lines = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at"])
    return lines.assign(product_id="p1", quantity=1, unit_price=10.0, line_amount=10.0,
                        is_cancellation=False, source_system="test")


@pytest.mark.parametrize("future_follows_past, churn_auc, clv_spearman",
                         [(True, (0.75, 1.0), (0.6, 1.0)), (False, (0.35, 0.65), (-0.25, 0.25))])
def test_in_window_ceiling_measures_the_signal_the_history_holds(future_follows_past, churn_auc,
                                                                 clv_spearman):
    from ml.evaluate_customer_models import in_window_ceiling

    lines = simulated_shop(600, future_follows_past, seed=5)
    ceiling = in_window_ceiling(lines, 90, pd.Timestamp("2024-01-01"), folds=3).set_index(
        ["model_name", "metric"])["value"]
    # a history that tells the future gives a high ceiling; one that does not, a coin's
    assert churn_auc[0] < ceiling[("churn_gradient_boosting", "roc_auc")] < churn_auc[1]
    assert clv_spearman[0] < ceiling[("clv_gradient_boosting", "spearman")] < clv_spearman[1]
