"""Customers: segment sizes and value, the RFM grid, cohort retention and order value trends."""

import numpy as np
import pandas as pd

from ml.report import html
from ml.report.context import ReportContext
from ml.report.figures import heatmap, new_figure, thousands

MIN_MONTH_ORDERS = 30


def segment_summary(rfm: pd.DataFrame) -> pd.DataFrame:
    """Per RFM segment: customers, revenue (net, before as-of date), their shares and the action.

    ``rfm``: customer_id, rfm_segment, rfm_segment_order, monetary, suggested_action."""
    grouped = rfm.groupby(["rfm_segment_order", "rfm_segment"], as_index=False).agg(
        customers=("customer_id", "count"), revenue=("monetary", "sum"),
        suggested_action=("suggested_action", "first"))
    grouped["customer_share"] = grouped["customers"] / grouped["customers"].sum()
    grouped["revenue_share"] = grouped["revenue"] / grouped["revenue"].sum()
    grouped["revenue_per_customer"] = grouped["revenue"] / grouped["customers"]
    return grouped.sort_values("rfm_segment_order")[
        ["rfm_segment", "customers", "customer_share", "revenue", "revenue_share",
         "revenue_per_customer", "suggested_action"]].reset_index(drop=True)


def rfm_grid(rfm: pd.DataFrame, value: str = "customers") -> pd.DataFrame:
    """Recency score (rows, 5 = recent) x frequency score (columns): customers, or mean monetary
    when ``value`` is 'monetary'."""
    scores = range(1, 6)
    if value == "customers":
        grid = pd.crosstab(rfm["recency_score"], rfm["frequency_score"])
        return grid.reindex(index=list(reversed(scores)), columns=list(scores), fill_value=0)
    grid = rfm.pivot_table(index="recency_score", columns="frequency_score", values="monetary",
                           aggfunc="mean")
    return grid.reindex(index=list(reversed(scores)), columns=list(scores))


def cohort_retention(orders: pd.DataFrame) -> pd.DataFrame:
    """Share of each first-order month's customers who ordered again N months later.

    ``orders``: customer_id, ordered_at (purchases only). Rows: cohort month; columns: months
    since the first order (0 = the cohort month itself, always 1.0)."""
    months = pd.to_datetime(orders["ordered_at"]).dt.to_period("M")
    active = pd.DataFrame({"customer_id": orders["customer_id"], "month": months}).drop_duplicates()
    active["cohort"] = active.groupby("customer_id")["month"].transform("min")
    active["months_since"] = (active["month"] - active["cohort"]).apply(lambda offset: offset.n)
    counts = active.pivot_table(index="cohort", columns="months_since", values="customer_id",
                                aggfunc="nunique")
    return counts.div(counts[0], axis=0)


def order_value_trend(orders: pd.DataFrame, long_term_days: int,
                      min_orders: int = 1) -> pd.DataFrame:
    """Monthly average order value of long-term customers (first order at least
    ``long_term_days`` before the order) and newer ones.

    ``orders``: customer_id, ordered_at, net_amount (purchases only).
    Returns month, group, orders, average_order_value; a group's months with fewer than
    ``min_orders`` orders are left out (a handful of orders makes a meaningless average)."""
    ordered_at = pd.to_datetime(orders["ordered_at"])
    first = ordered_at.groupby(orders["customer_id"]).transform("min")
    tenure_days = (ordered_at - first).dt.days
    frame = pd.DataFrame({
        "month": ordered_at.dt.to_period("M").dt.to_timestamp(),
        "group": np.where(tenure_days >= long_term_days, "long-term", "newer"),
        "net_amount": orders["net_amount"].to_numpy()})
    trend = (frame.groupby(["month", "group"], as_index=False)
             .agg(orders=("net_amount", "size"), average_order_value=("net_amount", "mean")))
    return trend[trend["orders"] >= min_orders].reset_index(drop=True)


def recent_change(trend: pd.DataFrame, group: str, months: int = 3) -> float | None:
    """Relative change of a group's order value: last ``months`` months against the ones before
    (order-weighted); None when there are not two full windows."""
    rows = trend[trend["group"] == group].sort_values("month")
    if len(rows) < 2 * months:
        return None
    revenue = rows["orders"] * rows["average_order_value"]
    last, before = slice(-months, None), slice(-2 * months, -months)
    recent = revenue.iloc[last].sum() / rows["orders"].iloc[last].sum()
    earlier = revenue.iloc[before].sum() / rows["orders"].iloc[before].sum()
    return float(recent / earlier - 1)


def _rfm_figure(context: ReportContext, rfm: pd.DataFrame, source: str) -> str:
    figure, (left, right) = new_figure(11, 4.2, columns=2)
    heatmap(left, rfm_grid(rfm), "{:,.0f}", "customers", "Blues")
    left.set(title="Customers by RFM score", xlabel="frequency score (5 = most orders)",
             ylabel="recency score (5 = most recent)")
    heatmap(right, rfm_grid(rfm, "monetary"), "{:,.0f}",
             f"mean net revenue ({context.settings.currency(source)})", "Greens")
    right.set(title="Mean net revenue per customer", xlabel="frequency score (5 = most orders)",
              ylabel="recency score (5 = most recent)")
    saved = context.figures.save(figure, f"customers_rfm_heatmap_{source}",
                                 f"{source}: RFM grid, customers and mean revenue per cell")
    return html.figure(saved)


def _cohort_figure(context: ReportContext, retention: pd.DataFrame, cohort_sizes: pd.Series,
                   source: str) -> str:
    # Month 0 is 100% by definition: leaving it out gives the colours to the months that differ.
    shown = retention.iloc[-24:, 1:25]  # at most two years of cohorts and months
    figure, ax = new_figure(10, 0.3 * len(shown) + 2.2)
    heatmap(ax, shown * 100, "{:.0f}", "customers ordering again (% of cohort)", "YlGnBu")
    ax.set_yticks(range(len(shown)), [f"{period} ({cohort_sizes[period]:,})"
                                      for period in shown.index])
    ax.set(title="Monthly cohort retention (% of each cohort ordering in the month)",
           xlabel="months since first order", ylabel="month of first order (customers)")
    saved = context.figures.save(figure, f"customers_cohort_retention_{source}",
                                 f"{source}: % of each cohort ordering again N months later (the latest "
                                 "month may be partial)")
    return html.figure(saved)


def _trend_figure(context: ReportContext, trend: pd.DataFrame, source: str) -> str:
    import matplotlib.dates as mdates

    figure, ax = new_figure(8, 3.8)
    for group, colour in (("long-term", "#2a6f97"), ("newer", "#e67e22")):
        rows = trend[trend["group"] == group]
        ax.plot(rows["month"], rows["average_order_value"], marker="o", color=colour, label=group)
    ax.set(title="Average order value by customer tenure", xlabel="month of order",
           ylabel=f"average order value ({context.settings.currency(source)})")
    ax.legend(title=f"long-term = first order >= {context.settings.long_term_days} days before")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    thousands(ax.yaxis)
    figure.autofmt_xdate()
    saved = context.figures.save(figure, f"customers_order_value_trend_{source}",
                                 f"{source}: monthly average order value, long-term vs newer "
                                 f"customers (months with under {MIN_MONTH_ORDERS} orders of a "
                                 "group left out)")
    return html.figure(saved)


def _source_part(context: ReportContext, section: html.Section, source: str) -> None:
    rfm = context.frame("select customer_id, recency_score, frequency_score, monetary, "
                        "rfm_segment, rfm_segment_order, suggested_action from customer_rfm "
                        "where source_system = ?", [source])
    orders = context.frame("select customer_id, ordered_at, net_amount from fct_orders "
                           "where source_system = ? and customer_id is not null "
                           "and not is_cancellation", [source])
    section.add(html.heading(f"{source} ({len(rfm):,} customers)"))
    segments = segment_summary(rfm)
    section.add(html.table(segments.rename(columns={"revenue": f"revenue ({context.settings.currency(source)})"}), {
        "customers": "{:,.0f}", "customer_share": "{:.1%}",
        f"revenue ({context.settings.currency(source)})": "{:,.0f}", "revenue_share": "{:.1%}",
        "revenue_per_customer": "{:,.0f}"}))
    section.add(_rfm_figure(context, rfm, source))
    retention = cohort_retention(orders)
    cohort_sizes = (pd.to_datetime(orders["ordered_at"]).dt.to_period("M")
                    .groupby(orders["customer_id"]).min().value_counts())
    if retention.shape[1] > 1:
        section.add(_cohort_figure(context, retention, cohort_sizes, source))
    else:
        section.add(html.missing("All orders fall in one calendar month: no cohort has a later "
                                 "month to retain customers in."))
    trend = order_value_trend(orders, context.settings.long_term_days, MIN_MONTH_ORDERS)
    if trend["group"].nunique() == 2:
        section.add(_trend_figure(context, trend, source))
    else:
        section.add(html.missing(
            f"No month has {MIN_MONTH_ORDERS} orders from both long-term customers (first order "
            f"{context.settings.long_term_days}+ days before) and newer ones: the history is too "
            "short for the order value trend."))
    change = recent_change(trend, "long-term")
    if change is not None:
        section.add(html.paragraph(
            f"Average order value of long-term customers, last 3 months against the 3 before: "
            f"{change:+.1%}."))
    section.facts[source] = {"segments": segments, "long_term_aov_change": change,
                             "customers": len(rfm)}


def customers_section(context: ReportContext) -> html.Section:
    section = html.Section("Customers")
    main = context.main_source()
    sources = sorted(context.customer_sources(), key=lambda source: source != main)
    if not sources:
        section.add(html.missing("No customer has an RFM score: customer_rfm is missing or empty."))
        return section
    section.add(html.paragraph(
        "Each source is a shop of its own: segments come from the seed rfm_segments (recency and "
        "frequency scores 1-5 within the source), revenue is net of cancellations up to the "
        "as-of date."))
    for source in sources:
        _source_part(context, section, source)
    return section
