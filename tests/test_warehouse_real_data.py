"""`dbt build` on the real public files in ../shared/data, all imported into one shop.

The figures asserted are those the documented cleaning rules produce on these files (see the
README's "What the rules do to the real data"); the raw figures match the published ones.
"""

import pytest
from warehouse_helpers import build_shop, query, shop_home, validate_shop

from ml.cli import main
from ml.data.importer import import_file


@pytest.fixture(scope="module")
def real_shop(tmp_path_factory, online_retail_file, events_sample_file, customer_profiles_file):
    home = tmp_path_factory.mktemp("real_shop")
    raw_dir = home / "data" / "raw"
    import_file("online-retail", online_retail_file, raw_dir)
    import_file("events", events_sample_file, raw_dir)
    import_file("customer-profiles", customer_profiles_file, raw_dir)
    import_file("cdnow", None, raw_dir)
    build_shop(home)
    return home


def test_every_raw_row_is_clean_or_quarantined(real_shop):
    rows = query(real_shop, "select source_system, raw_rows, clean_rows, quarantined_rows, "
                            "unaccounted_rows from data_quality.source_reconciliation order by 1")
    assert rows == [
        ("cdnow", 69_659, 69_579, 80, 0),
        ("customer_profiles", 2_240, 2_240, 0, 0),
        ("events", 17_435, 17_429, 6, 0),
        ("online_retail", 541_909, 531_236, 10_673, 0),
    ]


def test_online_retail_figures_match_the_published_data_set(real_shop):
    [(raw_lines, customer_ids)] = query(
        real_shop, "select count(*), count(distinct source_customer_id) "
                   "from staging.stg_online_retail__invoice_lines")
    assert (raw_lines, customer_ids) == (541_909, 4_372)
    reasons = dict(query(real_shop, "select rejection_reason, count(*) from "
                                    "data_quality.quarantined_rows where source_system = "
                                    "'online_retail' group by 1"))
    assert reasons == {"duplicate_line": 5_268, "non_product_code": 2_910,
                       "non_positive_price": 2_495}


def test_guest_lines_and_cancellations_are_kept_not_lost(real_shop):
    [(guest_lines, cancellation_lines, customers)] = query(
        real_shop, "select sum(case when is_guest then 1 else 0 end), "
                   "sum(case when is_cancellation then 1 else 0 end), count(distinct customer_id) "
                   "from fct_order_lines where source_system = 'online_retail'")
    assert (guest_lines, cancellation_lines, customers) == (131_580, 8_668, 4_362)
    [(net_revenue,)] = query(real_shop, "select round(sum(net_amount), 2) from fct_orders "
                                        "where source_system = 'online_retail'")
    assert net_revenue == pytest.approx(9_772_003.97)


def test_truncated_last_line_of_the_event_log_is_quarantined_with_its_reason(real_shop):
    rows = query(real_shop, "select rejection_reason, raw_record from data_quality.quarantined_rows "
                            "where source_system = 'events' and rejection_reason <> 'duplicate_event'")
    assert rows == [("missing_user_session", "2019-10-01 02:50:00 UTC|view|10900305|"
                     "2053013555069845885|appliances.kitchen.mixer|elenberg|25.71|52040330|")]


def test_event_log_purchases_become_orders_and_sessions_have_funnels(real_shop):
    [(purchase_lines, event_orders)] = query(
        real_shop, "select count(*), count(distinct order_id) from fct_order_lines "
                   "where source_system = 'events'")
    [(purchase_sessions,)] = query(real_shop, "select count(*) from fct_sessions where has_purchase")
    assert purchase_lines == 214
    assert event_orders == purchase_sessions == 193


def test_customer_profiles_keep_odd_values_cleaned_and_flagged(real_shop):
    [(profiles, implausible_birth_years, missing_incomes, unknown_marital)] = query(
        real_shop, "select count(*), sum(case when has_implausible_birth_year then 1 else 0 end), "
                   "count(*) - count(income), sum(case when marital_status = 'Unknown' then 1 else 0 end) "
                   "from dim_customer_profiles")
    assert (profiles, implausible_birth_years, missing_incomes, unknown_marital) == (2_240, 2, 24, 4)


def test_keys_carry_their_source_so_sources_never_collide(real_shop):
    rows = query(real_shop, "select source_system, count(*) from dim_customers group by 1 order by 1")
    assert rows == [("cdnow", 23_502), ("customer_profiles", 2_240), ("events", 4_504),
                    ("online_retail", 4_362)]


def test_rfm_is_scored_per_source_as_of_the_day_after_its_last_order(real_shop):
    rows = query(real_shop, "select source_system, count(*), min(as_of_date)::varchar "
                            "from customer_rfm group by 1 order by 1")
    assert rows == [("cdnow", 23_502, "1998-07-01"), ("events", 193, "2019-10-02"),
                    ("online_retail", 4_334, "2011-12-10")]


def test_great_expectations_suite_passes_on_every_mart(real_shop):
    results = validate_shop(real_shop)
    assert {result.table for result in results} >= {"fct_order_lines", "customer_rfm", "fct_sessions"}
    assert [(r.table, r.failures) for r in results if not r.success] == []


def test_score_tables_cover_every_source_with_enough_history(real_shop):
    rows = dict(query(real_shop, "select source_system, count(*) from customer_churn_scores group by 1"))
    # the event-log sample spans three hours: too short to learn churn from, so it is skipped
    assert rows == {"online_retail": 4_334, "cdnow": 23_502}
    [(served,)] = query(real_shop, "select count(distinct customer_id) from customer_recommendations")
    assert served == 4_334
    skipped = {run for (run,) in query(real_shop, "select run_id from model_metrics where metric = 'skipped'")}
    assert "events@skipped" in skipped


def test_recommend_prints_a_customers_products_with_names(real_shop, capsys):
    with shop_home(real_shop):
        assert main(["recommend", "--customer", "online_retail:17850", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Customer online_retail:17850 (")
    assert len(lines) == 4 and all("[online_retail:" in line for line in lines[1:])


@pytest.mark.parametrize("customer, message", [
    ("17850", "is a customer of several sources: cdnow:17850, online_retail:17850"),
    ("no-such-customer", "no customer 'no-such-customer' in the warehouse"),
    ("x'; drop table fct_orders; --", "no customer"),
])
def test_recommend_explains_unknown_or_ambiguous_customers(real_shop, capsys, customer, message):
    with shop_home(real_shop):
        assert main(["recommend", "--customer", customer]) == 1
    assert message in capsys.readouterr().err
    assert query(real_shop, "select count(*) > 0 from fct_orders") == [(True,)]


def _metrics(home, run_prefix: str) -> dict[tuple[str, str], float]:
    rows = query(home, "select model_name, metric, value from model_metrics "
                       f"where run_id like '{run_prefix}%'")
    return {(model, metric): value for model, metric, value in rows}


def test_hybrid_recommender_meets_the_quality_bar_in_the_warehouse(real_shop):
    metrics = _metrics(real_shop, "online_retail@2011-11-10")
    singles = ["popularity", "buy_again", "item_knn", "als", "ease", "content_based"]
    assert metrics[("hybrid", "ndcg_at_10")] >= 0.34
    assert metrics[("hybrid", "ndcg_at_10_new_items")] >= 0.105
    assert metrics[("hybrid", "coverage_at_10")] > 0.30
    for model in singles:
        assert metrics[("hybrid", "ndcg_at_10")] > metrics[(model, "ndcg_at_10")]
        new_items = metrics.get((model, "ndcg_at_10_new_items"))
        if new_items is not None:  # buy-again recommends only items bought before
            assert metrics[("hybrid", "ndcg_at_10_new_items")] > new_items


def test_churn_model_beats_every_baseline_on_roc_auc_out_of_time(real_shop):
    metrics = _metrics(real_shop, "online_retail@2011-09-11+90d")
    baselines = {model: value for (model, metric), value in metrics.items()
                 if model.startswith("churn_baseline_") and metric == "roc_auc"}
    assert len(baselines) == 4
    assert metrics[("churn_gradient_boosting", "roc_auc")] > max(baselines.values())
    assert metrics[("churn_gradient_boosting", "churn_rate")] == pytest.approx(0.43, abs=0.01)
    # the probabilistic CLV's total revenue is within 25% thanks to the seasonal index
    assert abs(metrics[("clv_probabilistic", "total_error")]) < 0.25
