"""The Streamlit dashboard, driven by Streamlit's app testing against a generated shop."""

from pathlib import Path

import pytest
from generated_shop import generated_shop
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return generated_shop(tmp_path_factory) / "warehouse" / "globalshop.duckdb"


@pytest.fixture
def app(warehouse, monkeypatch):
    monkeypatch.setenv("GLOBALSHOP_WAREHOUSE", str(warehouse))
    return AppTest.from_file(str(APP), default_timeout=60).run()


def _frame(app, columns: set[str]):
    return next(frame.value for frame in app.dataframe if columns <= set(frame.value.columns))


def test_overview_lists_the_segments_of_the_scored_shop_first(app):
    assert not app.exception
    assert [tab.label for tab in app.tabs] == ["Segments", "Churn risk", "Customer lookup"]
    assert app.sidebar.selectbox[0].value == "online_retail_ii"
    segments = _frame(app, {"segment", "customers", "suggested_action"})
    assert len(segments) >= 5 and segments["customers"].sum() > 0


def test_churn_list_follows_its_filters(app):
    risks = _frame(app, {"churn_probability", "risk_tier"})
    assert len(risks) > 0 and set(risks["risk_tier"]) == {"high"}
    app.multiselect[0].set_value(["medium", "low"]).run()
    app.slider[0].set_value(0.3).run()
    risks = _frame(app, {"churn_probability", "risk_tier"})
    assert len(risks) > 0 and set(risks["risk_tier"]) <= {"medium", "low"}
    assert risks["churn_probability"].min() >= 0.3


def test_customer_lookup_shows_segment_risk_value_and_recommendations(app, warehouse):
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        [(customer_id, segment)] = connection.sql(
            "select customer_id, rfm_segment from customer_rfm join customer_recommendations "
            "using (customer_id) join customer_churn_scores using (customer_id) "
            "order by customer_id limit 1").fetchall()
    app.text_input[0].set_value(customer_id).run()
    assert not app.exception
    assert segment in app.markdown[0].value
    labels = {metric.label for metric in app.metric}
    assert {"churn probability", "12-month CLV", "probability alive"} <= labels
    recommendations = _frame(app, {"rank", "product_id", "reason"})
    assert recommendations["rank"].tolist() == list(range(1, 11))


def test_customer_lookup_treats_input_as_a_value_not_sql(app):
    app.text_input[0].set_value("x' or '1'='1").run()
    assert not app.exception
    assert "No scored customer" in app.warning[0].value


def test_a_missing_warehouse_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("GLOBALSHOP_WAREHOUSE", str(tmp_path / "none.duckdb"))
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert "globalshop build" in app.error[0].value
