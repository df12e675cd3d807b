"""The business-impact report: each computation on small frames with known answers, then the
whole report on a generated shop, with and without the tables other work is still building."""

import re

import numpy as np
import pandas as pd
import pytest
from generated_shop import copy_without, generated_shop
from warehouse_helpers import shop_home

from ml.cli import main
from ml.report import ReportSettings, build_report
from ml.report.churn_risk import campaign_scenario, campaign_summary, retained_value, \
    risk_tier_summary
from ml.report.customers import cohort_retention, order_value_trend, recent_change, rfm_grid, \
    segment_summary
from ml.report.lifetime_value import alive_matrix, value_concentration
from ml.report.recommendations import cross_sell_potential, funnel_table, \
    parse_ranking_metrics, uplift_table
from ml.report.validation import calibration_table, decile_comparison, gains_table


def test_segment_summary_shares_and_actions():
    rfm = pd.DataFrame({"customer_id": list("abcd"), "rfm_segment": ["Lost", "Champions"] * 2,
                        "rfm_segment_order": [11, 1] * 2, "monetary": [10.0, 90.0, 10.0, 90.0],
                        "suggested_action": ["leave", "reward"] * 2})
    table = segment_summary(rfm)
    assert table["rfm_segment"].tolist() == ["Champions", "Lost"]
    assert table["revenue_share"].tolist() == [0.9, 0.1]
    assert table["customer_share"].tolist() == [0.5, 0.5]
    assert table["suggested_action"].tolist() == ["reward", "leave"]


def test_rfm_grid_counts_every_cell_and_puts_recent_first():
    rfm = pd.DataFrame({"recency_score": [5, 5, 1], "frequency_score": [1, 1, 5],
                        "monetary": [1.0, 3.0, 10.0]})
    counts = rfm_grid(rfm)
    assert counts.shape == (5, 5) and counts.index[0] == 5
    assert counts.loc[5, 1] == 2 and counts.loc[1, 5] == 1 and counts.to_numpy().sum() == 3
    assert rfm_grid(rfm, "monetary").loc[5, 1] == 2.0


def test_cohort_retention_counts_returning_customers():
    orders = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
                           "ordered_at": pd.to_datetime(["2011-01-05", "2011-02-01", "2011-01-20",
                                                         "2011-02-03", "2011-04-01"])})
    retention = cohort_retention(orders)
    january, february = pd.Period("2011-01", "M"), pd.Period("2011-02", "M")
    assert retention.loc[january, 0] == 1.0 and retention.loc[january, 1] == 0.5
    assert retention.loc[february, 2] == 1.0 and pd.isna(retention.loc[february, 1])


def test_order_value_trend_splits_long_term_from_newer_and_measures_change():
    orders = pd.DataFrame({"customer_id": "a",
                           "ordered_at": pd.date_range("2011-01-01", periods=12, freq="MS"),
                           "net_amount": np.where(np.arange(12) < 9, 100.0, 80.0)})
    trend = order_value_trend(orders, long_term_days=180)
    assert set(trend.loc[trend["month"] < "2011-07-01", "group"]) == {"newer"}
    assert set(trend.loc[trend["month"] >= "2011-07-01", "group"]) == {"long-term"}
    assert recent_change(trend, "long-term") == pytest.approx(-0.2)
    assert order_value_trend(orders, 180, min_orders=2).empty


def test_gains_of_a_perfect_ranking_reach_every_positive_first():
    predicted = pd.Series(np.linspace(1, 0, 100))
    actual = pd.Series((np.arange(100) < 30).astype(float))
    gains = gains_table(predicted, actual)
    assert gains["customers"].tolist() == [10] * 10
    assert gains["cumulative_positive_share"].iloc[2] == 1.0
    assert gains["lift"].iloc[0] == pytest.approx(1 / 0.3)


def test_calibration_of_calibrated_probabilities_matches_the_diagonal():
    rng = np.random.default_rng(1)
    predicted = pd.Series(rng.random(40_000))
    actual = pd.Series((rng.random(40_000) < predicted).astype(float))
    table = calibration_table(predicted, actual)
    assert len(table) == 10
    assert np.abs(table["observed_rate"] - table["mean_predicted"]).max() < 0.03


def test_decile_comparison_keeps_totals():
    predicted = pd.Series(np.arange(50, dtype=float))
    actual = predicted * 2
    table = decile_comparison(predicted, actual)
    assert table["total_actual"].sum() == actual.sum()
    assert table["mean_predicted"].is_monotonic_decreasing


def test_risk_tiers_sum_revenue_at_risk():
    scores = pd.DataFrame({"risk_tier": ["low", "high", "high"],
                           "churn_probability": [0.1, 0.8, 0.9], "revenue_12m": [100.0, 50, 10]})
    tiers = risk_tier_summary(scores)
    assert tiers["risk_tier"].tolist() == ["high", "low"]
    assert tiers.set_index("risk_tier").loc["high", "revenue_at_risk"] == pytest.approx(49.0)


def test_campaign_contacts_exactly_the_customers_with_positive_expected_profit():
    settings = ReportSettings(contact_cost=5.0, expected_save_rate=0.5, gross_margin=0.5,
                              annual_discount_rate=0.0)
    scores = pd.DataFrame({"customer_id": ["likely_small", "unlikely_big", "nothing"],
                           "churn_probability": [0.9, 0.3, 0.9],
                           "revenue_12m": [10.0, 1_000.0, 0.0]})
    scenario = campaign_scenario(scores, settings)
    # 0.3 x 0.5 x 1000 x 0.5 - 5 = 70; 0.9 x 0.5 x 10 x 0.5 - 5 = -2.75; 0 - 5
    assert scenario["customer_id"].tolist() == ["unlikely_big", "likely_small", "nothing"]
    assert scenario["expected_profit"].tolist() == pytest.approx([70.0, -2.75, -5.0])
    assert scenario["contact"].tolist() == [True, False, False]
    summary = campaign_summary(scenario, settings)
    assert summary["customers_contacted"] == 1 and summary["roi"] == pytest.approx(14.0)
    # by probability alone, the one contact would have gone to a customer worth less
    assert summary["profit_if_chosen_by_probability"] < summary["expected_profit"]


def test_retained_value_discounts_the_coming_year():
    assert retained_value(pd.Series([1200.0]), 0.0).iloc[0] == pytest.approx(1200.0)
    assert 1200 / 1.1 < retained_value(pd.Series([1200.0]), 0.1).iloc[0] < 1200


def test_value_concentration():
    shares = value_concentration(pd.Series([70.0] + [10.0, 10.0, 10.0] + [0.0] * 6))
    assert shares == {0.1: pytest.approx(0.7), 0.2: pytest.approx(0.8)}


def test_alive_matrix_bins_frequency_and_recency():
    clv = pd.DataFrame({"frequency": [1, 1, 25], "recency_days": [10, 20, 400],
                        "probability_alive": [0.9, 0.7, 0.1]})
    matrix = alive_matrix(clv)
    assert matrix.loc["0-30", "1"] == pytest.approx(0.8)
    assert matrix.loc["366+", "21+"] == pytest.approx(0.1)


def test_ranking_metrics_are_parsed_and_compared_with_popularity():
    rows = pd.DataFrame({"run_id": "s@1", "model_name": ["popularity", "hybrid", "hybrid",
                                                         "churn_model"],
                         "metric": ["hit_rate_at_10", "hit_rate_at_10", "hit_rate_at_10_new",
                                    "roc_auc"],
                         "value": [0.2, 0.3, 0.1, 0.7]})
    parsed = parse_ranking_metrics(rows)
    assert parsed[["model_name", "metric", "k", "variant"]].values.tolist() == [
        ["popularity", "hit_rate", 10, "all"], ["hybrid", "hit_rate", 10, "all"],
        ["hybrid", "hit_rate", 10, "new"]]
    table = uplift_table(parsed).set_index(["model_name", "variant"])
    assert table.loc[("hybrid", "all"), "hit_rate_uplift"] == pytest.approx(0.5)
    assert pd.isna(table.loc[("hybrid", "new"), "hit_rate_uplift"])  # no popularity to compare


def test_cross_sell_potential_ranks_by_revenue():
    pairs = pd.DataFrame({"pair": ["common", "rare"], "product_baskets": [1000, 100],
                          "pair_count": [999, 20], "other_price": [10.0, 10.0]})
    ranked = cross_sell_potential(pairs, take_rate=0.1)
    assert ranked["pair"].tolist() == ["rare", "common"]
    assert ranked["revenue_potential"].tolist() == [80.0, 1.0]


def test_funnel_counts_later_stages_as_reaching_earlier_ones():
    funnel = funnel_table(pd.DataFrame({"funnel_stage": ["view", "cart", "purchase"],
                                        "sessions": [70, 20, 10]}))
    assert funnel["sessions"].tolist() == [100, 30, 10]
    assert funnel["conversion_from_previous"].iloc[2] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return generated_shop(tmp_path_factory)


def _embedded_images(page: str) -> int:
    return len(re.findall(r'src="data:image/png;base64,', page))


def test_report_command_writes_a_self_contained_page_and_its_figures(shop, capsys):
    with shop_home(shop):
        assert main(["report", "--contact-cost", "3.5"]) == 0
    page = (shop / "reports" / "business_impact.html").read_text()
    figures = sorted((shop / "reports" / "figures").glob("*.png"))
    assert "expected profit of the retention campaign" in capsys.readouterr().out
    assert len(figures) >= 8 and _embedded_images(page) == len(figures)
    assert "http" not in page.replace("https://", "").split("<body>")[0]  # nothing fetched
    for title in ("Summary", "Customers", "Churn", "Lifetime value", "Recommendations",
                  "Assumptions"):
        assert f"<h2>{title}</h2>" in page
    assert "<td>contact_cost</td>" in page and "<td>3.5</td>" in page


def test_report_draws_the_validation_and_recommendation_charts(shop):
    with shop_home(shop):
        result = build_report(settings=ReportSettings(main_source="online_retail_ii"))
    names = {path.stem for path in result.figure_paths}
    assert {"churn_gains_lift_online_retail_ii", "churn_calibration_online_retail_ii",
            "clv_predicted_vs_actual_online_retail_ii"} <= names
    assert any(name.startswith("recommendations_hit_rate_online_retail_ii") for name in names)
    page = result.html_path.read_text()
    assert "is not in this warehouse yet" not in page
    assert "Top cross-sell pairs, online_retail_ii" in page
    assert any(label.startswith("hit-rate uplift of") for label, _ in
               result.summary.facts["numbers"])
    assert len(result.summary.facts["actions"]) == 3


def test_a_missing_table_is_named_in_its_section_not_skipped(shop, tmp_path):
    home = copy_without(shop, tmp_path, ("model_validation_predictions", "product_cross_sell"))
    with shop_home(home):
        result = build_report(settings=ReportSettings(main_source="online_retail_ii"))
    page = result.html_path.read_text()
    for table in ("model_validation_predictions", "product_cross_sell"):
        assert f"Table main.{table} is not in this warehouse yet" in page
    assert "Table main.customer_recommendations is not in this warehouse yet" not in page
