"""GlobalShop customer dashboard: segment overview, churn risk list, customer lookup.

    streamlit run dashboard/app.py        # reads $GLOBALSHOP_WAREHOUSE or the shop's warehouse

Every query opens the warehouse read-only (a rebuild is never blocked) and passes user input as
bound parameters, never as SQL text.
"""

import pandas as pd
import streamlit as st

from ml.paths import warehouse_path
from ml.warehouse import WarehouseMissingError, connect, table_exists

RISK_TIERS = ["high", "medium", "low"]


def query(sql: str, parameters: list | None = None) -> pd.DataFrame:
    with connect(warehouse_path()) as connection:
        return connection.execute(sql, parameters or []).df()


def has_table(table: str) -> bool:
    with connect(warehouse_path()) as connection:
        return table_exists(connection, "main", table)


def segment_overview(source: str) -> None:
    st.subheader("Segments")
    segments = query("""
        select rfm_segment as segment, count(*) as customers,
               round(sum(monetary), 0) as net_revenue,
               round(avg(recency_days), 0) as avg_days_since_last_order,
               round(avg(frequency), 1) as avg_orders, min(suggested_action) as suggested_action
        from customer_rfm where source_system = ?
        group by rfm_segment, rfm_segment_order order by rfm_segment_order""", [source])
    total = segments["net_revenue"].sum()
    segments.insert(3, "revenue_share_pct", (100 * segments["net_revenue"] / total).round(1)
                    if total else 0.0)
    columns = st.columns(3)
    columns[0].metric("customers", f"{segments['customers'].sum():,}")
    columns[1].metric("net revenue (source currency)", f"{total:,.0f}")
    columns[2].metric("segments", len(segments))
    st.bar_chart(segments, x="segment", y="customers", horizontal=True, sort=False)
    st.dataframe(segments, hide_index=True)
    if has_table("customer_segments"):
        clusters = query("select cluster_label, count(*) as customers from customer_segments "
                         "where source_system = ? group by 1 order by 2 desc", [source])
        st.caption("Behaviour clusters (k-means)")
        st.dataframe(clusters, hide_index=True)


def churn_risk_list(source: str) -> None:
    st.subheader("Churn risk")
    if not has_table("customer_churn_scores"):
        st.info("customer_churn_scores is not in the warehouse yet.")
        return
    segments = query("select distinct rfm_segment from customer_rfm where source_system = ? "
                     "order by 1", [source])["rfm_segment"].tolist()
    left, middle, right = st.columns(3)
    tiers = left.multiselect("risk tier", RISK_TIERS, default=["high"])
    minimum = middle.slider("minimum churn probability", 0.0, 1.0, 0.0, 0.05)
    chosen_segments = right.multiselect("segment", segments, default=segments)
    has_clv = has_table("customer_clv")
    clv_join = "left join customer_clv v using (customer_id)" if has_clv else ""
    clv_column = "round(v.clv_12m, 0)" if has_clv else "cast(null as double)"
    risks = query(f"""
        select s.customer_id, r.rfm_segment as segment, round(s.churn_probability, 3) as churn_probability,
               s.risk_tier, {clv_column} as clv_12m, s.driver_1, s.driver_2, s.driver_3
        from customer_churn_scores s
        left join customer_rfm r using (customer_id)
        {clv_join}
        where s.source_system = ? and list_contains(?, s.risk_tier)
          and s.churn_probability >= ? and list_contains(?, r.rfm_segment)
        order by s.churn_probability * coalesce({clv_column}, 1) desc
        limit 500""", [source, tiers, minimum, chosen_segments])
    st.caption(f"{len(risks):,} customers (at most 500), most value at risk first")
    st.dataframe(risks, hide_index=True)


def customer_lookup() -> None:
    st.subheader("Customer lookup")
    customer_id = st.text_input("customer id", placeholder="online_retail:17850").strip()
    if not customer_id:
        return
    profile = query("""
        select r.customer_id, r.source_system, r.rfm_segment, r.rfm_cell, r.recency_days,
               r.frequency as orders, round(r.monetary, 2) as net_revenue, r.suggested_action
        from customer_rfm r where r.customer_id = ?""", [customer_id])
    if profile.empty:
        st.warning(f"No scored customer {customer_id!r}. Ids look like <source>:<number>.")
        return
    row = profile.iloc[0]
    st.markdown(f"**{row['customer_id']}**: segment **{row['rfm_segment']}** "
                f"(RFM {row['rfm_cell']}), {row['orders']:.0f} orders, net revenue "
                f"{row['net_revenue']:,.2f}. Suggested action: {row['suggested_action']}")
    columns = st.columns(3)
    if has_table("customer_churn_scores"):
        churn = query("select churn_probability, risk_tier, driver_1 from customer_churn_scores "
                      "where customer_id = ?", [customer_id])
        if not churn.empty:
            columns[0].metric("churn probability", f"{churn['churn_probability'].iloc[0]:.0%}",
                              churn["risk_tier"].iloc[0] + " risk", delta_color="off")
    if has_table("customer_clv"):
        clv = query("select clv_12m, probability_alive from customer_clv where customer_id = ?",
                    [customer_id])
        if not clv.empty:
            columns[1].metric("12-month CLV", f"{clv['clv_12m'].iloc[0]:,.0f}")
            columns[2].metric("probability alive", f"{clv['probability_alive'].iloc[0]:.0%}")
    if has_table("customer_recommendations"):
        recommendations = query("""
            select c.rank, c.product_id, p.description, round(c.score, 3) as score, c.reason
            from customer_recommendations c left join dim_products p using (product_id)
            where c.customer_id = ? order by c.rank""", [customer_id])
        st.caption("Recommendations")
        st.dataframe(recommendations, hide_index=True)
    else:
        st.info("customer_recommendations is not in the warehouse yet.")


def main() -> None:
    st.set_page_config(page_title="GlobalShop customers", layout="wide")
    st.title("GlobalShop customers")
    try:
        sources = query("select source_system from customer_rfm group by 1 "
                        "order by count(*) desc")["source_system"].tolist()
    except WarehouseMissingError as error:
        st.error(str(error))
        return
    if not sources:
        st.warning("No customer has an RFM score yet: build the warehouse with data.")
        return
    if has_table("customer_churn_scores"):
        # shops with churn scores first: the event-log storefront has too short a history
        scored = set(query("select distinct source_system from customer_churn_scores")
                     ["source_system"])
        sources.sort(key=lambda name: name not in scored)
    source = st.sidebar.selectbox("shop (source)", sources)
    st.sidebar.caption(f"Warehouse: {warehouse_path()} (read-only)")
    overview, risk, lookup = st.tabs(["Segments", "Churn risk", "Customer lookup"])
    with overview:
        segment_overview(source)
    with risk:
        churn_risk_list(source)
    with lookup:
        customer_lookup()


main()
