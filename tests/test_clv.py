import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary, load_cdnow_summary_data_with_monetary_value

from ml import clv

CDNOW_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def test_reproduces_published_cdnow_bg_nbd_fit():
    summary = load_cdnow_summary().set_index("ID")
    fitter, model, attempts = clv.fit_transaction_model(summary, models=("bg_nbd",),
                                                        penalizers=(0.0,))
    assert model == "bg_nbd" and attempts[0].problem is None and attempts[0].used
    for name, published in CDNOW_BG_NBD.items():
        assert fitter.params_[name] == pytest.approx(published, rel=0.01)


def test_reproduces_published_cdnow_gamma_gamma_fit():
    summary = load_cdnow_summary_data_with_monetary_value()
    fitter, model, _ = clv.fit_spend_model(summary, penalizers=(0.0,))
    assert model == "gamma_gamma"
    for name, published in CDNOW_GAMMA_GAMMA.items():
        assert fitter.params_[name] == pytest.approx(published, rel=0.01)


def simulate_gamma_gamma(p: float, q: float, v: float, customers: int, seed: int) -> pd.DataFrame:
    """Repeat counts x and mean spend per customer: nu ~ Gamma(q, rate v), z ~ Gamma(p, rate nu)."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 15, size=customers)
    nu = rng.gamma(q, 1.0 / v, size=customers)
    # The mean of x Gamma(p, nu) draws is Gamma(p x, rate nu x).
    spend = rng.gamma(p * frequency, 1.0 / (nu * frequency))
    return pd.DataFrame({"frequency": frequency.astype(float), "monetary_value": spend})


def simulate_bg_nbd(r: float, alpha: float, a: float, b: float, customers: int, T: float,
                    seed: int) -> pd.DataFrame:
    """BG/NBD histories as Fader, Hardie & Lee define them: Poisson purchases at rate
    lambda ~ Gamma(r, rate alpha); after each repeat purchase, dropout with p ~ Beta(a, b).

    Our own simulator: lifetimes' ``beta_geometric_nbd_model`` recovers alpha ~25% high even on
    100,000 customers, so it cannot serve as the truth.
    """
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1.0 / alpha, size=customers)
    dropouts = rng.beta(a, b, size=customers)
    rows = []
    for rate, dropout in zip(rates, dropouts, strict=True):
        now, last, repeats = 0.0, 0.0, 0
        while True:
            now += rng.exponential(1.0 / rate)
            if now > T:
                break
            repeats, last = repeats + 1, now
            if rng.random() < dropout:
                break
        rows.append((float(repeats), last, T))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"])


@pytest.mark.parametrize("customers, tolerance", [
    (2_000, 0.35), pytest.param(30_000, 0.1, marks=pytest.mark.slow)])
def test_recovers_simulated_bg_nbd_parameters(customers, tolerance):
    summary = simulate_bg_nbd(**CDNOW_BG_NBD, customers=customers, T=52.0, seed=7)
    fitter, _, _ = clv.fit_transaction_model(summary, models=("bg_nbd",), penalizers=(0.0,))
    for name, truth in CDNOW_BG_NBD.items():
        assert fitter.params_[name] == pytest.approx(truth, rel=tolerance)


@pytest.mark.parametrize("customers, tolerance", [
    (2_000, 0.3), pytest.param(30_000, 0.08, marks=pytest.mark.slow)])
def test_recovers_simulated_gamma_gamma_parameters(customers, tolerance):
    summary = simulate_gamma_gamma(**CDNOW_GAMMA_GAMMA, customers=customers, seed=3)
    fitter, model, _ = clv.fit_spend_model(summary, penalizers=(0.0,))
    assert model == "gamma_gamma"
    # p and the ratio v/q (scale of mean spend) are well identified; q and v alone trade off.
    assert fitter.params_["p"] == pytest.approx(CDNOW_GAMMA_GAMMA["p"], rel=tolerance)
    assert fitter.params_["v"] / fitter.params_["q"] == pytest.approx(
        CDNOW_GAMMA_GAMMA["v"] / CDNOW_GAMMA_GAMMA["q"], rel=tolerance)


def fitted_bg_nbd(**params: float) -> BetaGeoFitter:
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(params)
    return fitter


def test_fit_checks_flag_the_known_traps():
    summary = load_cdnow_summary().set_index("ID")
    healthy = fitted_bg_nbd(**CDNOW_BG_NBD)
    assert clv.transaction_fit_problem(healthy, summary) == (None, False)
    no_dropout = fitted_bg_nbd(r=0.7, alpha=66.0, a=1e-8, b=4e4)
    problem, fatal = clv.transaction_fit_problem(no_dropout, summary)
    assert "no dropout learned" in problem and not fatal
    broken = fitted_bg_nbd(r=0.7, alpha=np.nan, a=0.5, b=1.0)
    problem, fatal = clv.transaction_fit_problem(broken, summary)
    assert "non-finite" in problem and fatal

    spend = GammaGammaFitter()
    spend.params_ = pd.Series({"p": 2.0, "q": 0.8, "v": 5.0})
    values = load_cdnow_summary_data_with_monetary_value()
    assert "q=0.800 <= 1" in clv.spend_fit_problem(spend, values["frequency"],
                                                   values["monetary_value"])


def test_spend_falls_back_to_shrunk_mean_and_records_it():
    summary = pd.DataFrame({"frequency": [0.0, 1.0, 3.0], "monetary_value": [0.0, 10.0, 30.0]})
    model, name, attempts = clv.fit_spend_model(summary, penalizers=())
    assert name == "shrunk_mean" and attempts[-1].used
    population = (1 * 10 + 3 * 30) / 4
    expected = [population, 0.5 * 10 + 0.5 * population, 0.75 * 30 + 0.25 * population]
    np.testing.assert_allclose(
        model.conditional_expected_average_profit(summary["frequency"],
                                                  summary["monetary_value"]), expected)


def test_probabilistic_clv_scores_and_lifetime_value_agree_with_lifetimes():
    summary = load_cdnow_summary_data_with_monetary_value()
    model = clv.ProbabilisticClv(models=("bg_nbd",), penalizers=(0.0,),
                                 annual_discount_rate=0.0).fit(summary)
    scores = model.score(summary)
    assert scores.notna().all().all() and (scores["probability_alive"] <= 1).all()
    assert (scores["expected_purchases_365d"] >= scores["expected_purchases_90d"]).all()
    # CDNOW's T is in weeks; lifetimes' CLV with freq "W" steps 4.345 weeks a month.
    reference = model.spend_model_.customer_lifetime_value(
        model.transaction_model_, summary["frequency"], summary["recency"], summary["T"],
        summary["monetary_value"], time=3, discount_rate=0.0, freq="W")
    ours_in_weeks = model.expected_purchases(summary, 3 * 4.345) * model.expected_order_value(
        summary)
    np.testing.assert_allclose(ours_in_weeks, reference, rtol=1e-9)
    report = model.fit_report()
    assert report["used"].sum() == 2


def test_seasonal_index_reads_last_years_window():
    days = pd.date_range("2022-01-01", "2023-06-30", freq="D")
    busy = days.month.isin([11, 12])
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(days))], "customer_id": "a",
                           "ordered_at": days, "is_cancellation": False,
                           "net_amount": np.where(busy, 200.0, 100.0)})
    index, how = clv.seasonal_index(orders, pd.Timestamp("2023-11-01"), 61)
    assert index == pytest.approx(2.0) and "before it" in how
    assert clv.seasonal_index(orders, pd.Timestamp("2022-06-01"), 61)[0] == 1.0


def test_gradient_boosting_clv_keeps_the_training_total_and_ranks():
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"orders": rng.poisson(3, 800) + 1.0,
                             "days_since_last_order": rng.uniform(1, 200, 800)})
    rate = features["orders"] / (1 + features["days_since_last_order"] / 50)
    revenue = pd.Series(rng.poisson(rate) * 40.0, index=features.index)
    model = clv.GradientBoostingClv().fit(features, revenue)
    predicted = model.predict(features)
    assert predicted.sum() == pytest.approx(revenue.sum(), rel=1e-9)
    assert clv.revenue_metrics(revenue, predicted)["spearman"] > 0.5
    with pytest.raises(ValueError, match="needs target"):
        clv.GradientBoostingClv().fit(features)


def test_revenue_metrics():
    actual = pd.Series([0.0, 10.0, 30.0])
    metrics = clv.revenue_metrics(actual, pd.Series([5.0, 10.0, 20.0]))
    assert metrics["mae"] == pytest.approx(5.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(125 / 3))
    assert metrics["total_error"] == pytest.approx(-5 / 40)
    assert metrics["spearman"] == pytest.approx(1.0)


@pytest.mark.slow
def test_uci_fit_checks_catch_the_no_dropout_trap(online_retail_file):
    from reference_data import uci_order_lines

    from ml.features import customer_features, default_cutoff

    lines = uci_order_lines(online_retail_file)
    features = customer_features(lines, default_cutoff(lines, 90))
    model = clv.ProbabilisticClv().fit(features)
    report = model.fit_report()
    assert report["problem"].str.contains("no dropout learned").any()
    assert np.isfinite(model.score(features).to_numpy()).all()


def test_gradient_boosting_clv_can_share_out_a_given_total():
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"orders": rng.poisson(3, 500) + 1.0,
                             "days_since_last_order": rng.uniform(1, 200, 500)})
    revenue = pd.Series(rng.poisson(features["orders"]) * 25.0, index=features.index)
    model = clv.GradientBoostingClv(seasonal_index=1.5).fit(features, revenue)
    own = model.predict(features)
    shared = model.predict(features, total=1000.0)
    assert shared.sum() == pytest.approx(1000.0)
    pd.testing.assert_series_equal(shared, own * (1000.0 / own.sum()))


@pytest.mark.slow
def test_uci_boosted_clv_ranks_best_with_the_probabilistic_total(online_retail_file):
    from reference_data import uci_order_lines

    from ml.evaluate_customer_models import evaluate_clv
    from ml.features import default_cutoff

    lines = uci_order_lines(online_retail_file)
    rows = evaluate_clv(lines, default_cutoff(lines, 90), 90, "test").metrics
    value = rows.set_index(["model_name", "metric"])["value"]
    # Honest floors, not the 0.58 Spearman bar (not reached: see BENCHMARKS.md).
    assert value["clv_gradient_boosting", "spearman"] > 0.535
    assert value["clv_gradient_boosting", "spearman"] > value["clv_probabilistic", "spearman"]
    assert abs(value["clv_gradient_boosting", "total_error"]) < 0.25
    assert value["clv_gradient_boosting", "total_error"] == pytest.approx(
        value["clv_probabilistic", "total_error"])
