"""Recommendations: every model against popularity (the stand-in for the current system), the
top cross-sell pairs and what they could add, the reasons served, and the browsing funnel."""

import re

import numpy as np
import pandas as pd

from ml.report import html
from ml.report.context import ReportContext, missing_table_note
from ml.report.figures import new_figure, thousands

CURRENT_SYSTEM = "popularity"
# Recommender metrics are named <metric>_at_<k>, optionally followed by _<variant> (e.g. _new).
RANKING_METRIC = re.compile(r"^(?P<metric>[a-z_]+?)_at_(?P<k>\d+)(?:_(?P<variant>[a-z_]+))?$")
HEADLINE_K = 10


def parse_ranking_metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """model_metrics rows whose metric is <metric>_at_<k>[_<variant>], split into metric, k and
    variant ('all' when none). ``rows``: run_id, model_name, metric, value."""
    parts = rows["metric"].str.extract(RANKING_METRIC)
    parsed = rows.drop(columns="metric").join(parts).dropna(subset=["metric"])
    return parsed.assign(k=parsed["k"].astype(int), variant=parsed["variant"].fillna("all"))


def uplift_table(parsed: pd.DataFrame, k: int = HEADLINE_K) -> pd.DataFrame:
    """One row per model and variant at cut-off ``k``: each metric, and the relative uplift in
    hit rate over popularity (the click-through proxy). Empty when popularity was not measured."""
    at_k = parsed[parsed["k"] == k]
    table = at_k.pivot_table(index=["model_name", "variant"], columns="metric", values="value",
                             aggfunc="mean").reset_index()
    table.columns.name = None
    if "hit_rate" not in table:
        return table
    current = table[table["model_name"] == CURRENT_SYSTEM].set_index("variant")["hit_rate"]
    table["hit_rate_uplift"] = table["hit_rate"] / table["variant"].map(current) - 1
    return table.sort_values(["variant", "hit_rate"], ascending=[True, False]).reset_index(drop=True)


def cross_sell_potential(pairs: pd.DataFrame, take_rate: float) -> pd.DataFrame:
    """Revenue a pair could add: baskets with the product but not the other x the take rate x the
    other's typical price. ``pairs``: product_baskets, pair_count, other_price (plus anything)."""
    baskets_without = (pairs["product_baskets"] - pairs["pair_count"]).clip(lower=0)
    return (pairs.assign(baskets_without_other=baskets_without,
                         revenue_potential=baskets_without * take_rate * pairs["other_price"])
            .sort_values("revenue_potential", ascending=False, kind="stable")
            .reset_index(drop=True))


def funnel_table(stage_counts: pd.DataFrame) -> pd.DataFrame:
    """Sessions reaching each stage (a purchase counts as reaching cart) and step conversion.
    ``stage_counts``: funnel_stage, sessions."""
    counts = stage_counts.set_index("funnel_stage")["sessions"].reindex(
        ["view", "cart", "purchase"], fill_value=0)
    reached = counts[::-1].cumsum()[::-1]
    table = pd.DataFrame({"stage": reached.index, "sessions": reached.to_numpy()})
    table["share_of_sessions"] = table["sessions"] / table["sessions"].iloc[0]
    table["conversion_from_previous"] = table["sessions"] / table["sessions"].shift(1)
    return table


def _metrics_part(context: ReportContext, section: html.Section) -> dict:
    rows = context.frame("select run_id, model_name, metric, value from model_metrics "
                         "where metric like '%\\_at\\_%' escape '\\'")
    parsed = parse_ranking_metrics(rows)
    if parsed.empty:
        section.add(html.missing(
            "model_metrics has no recommender rows yet (metrics named like hit_rate_at_10), so "
            "the models cannot be compared with popularity. They appear after a `globalshop "
            "build` that includes the recommender evaluation."))
        return {}
    facts = {}
    for run_id, run in parsed.groupby("run_id", sort=True):
        table = uplift_table(run)
        section.add(html.heading(f"Offline evaluation {run_id} (k = {HEADLINE_K})"))
        section.add(html.table(table, {column: "{:.3f}" for column in table.columns
                                       if column not in ("model_name", "variant")}
                               | {"hit_rate_uplift": "{:+.0%}"}))
        section.add(_metrics_figure(context, table, run_id))
        if "hit_rate_uplift" in table:
            best = table[(table["variant"] == "all") & (table["model_name"] != CURRENT_SYSTEM)]
            if not best.empty and best["hit_rate"].notna().any():
                top = best.loc[best["hit_rate"].idxmax()]
                facts[run_id.split("@", 1)[0]] = {"best_model": top["model_name"],
                                                  "hit_rate": float(top["hit_rate"]),
                                                  "uplift": float(top["hit_rate_uplift"])}
    section.add(html.paragraph(
        f"Hit rate at {HEADLINE_K} (a judged customer bought at least one recommended product in "
        "the test window) stands in for click-through; uplift is relative to popularity."))
    return facts


def _metrics_figure(context: ReportContext, table: pd.DataFrame, run_id: str) -> str:
    variants = table["variant"].unique()
    figure, axes = new_figure(5 * len(variants), 3.8, columns=len(variants))
    for ax, variant in zip(np.atleast_1d(axes), variants):
        rows = table[table["variant"] == variant].dropna(subset=["hit_rate"]).sort_values("hit_rate")
        colours = ["#c0392b" if name == CURRENT_SYSTEM else "#2a6f97"
                   for name in rows["model_name"]]
        ax.barh(rows["model_name"], rows["hit_rate"] * 100, color=colours)
        items = "all items" if variant == "all" else "items new to the customer"
        ax.set(title=f"Hit rate at {HEADLINE_K}, {items}",
               xlabel="judged customers with a hit (%)", ylabel="model")
    saved = context.figures.save(figure, f"recommendations_hit_rate_{run_id}",
                                 f"{run_id}: hit rate of each recommender; red = popularity, "
                                 "the current system")
    return html.figure(saved)


def _cross_sell_part(context: ReportContext, section: html.Section, source: str) -> dict:
    settings = context.settings
    pairs = context.frame("""
        with baskets as (
            select product_id, count(distinct order_id) as product_baskets
            from fct_order_lines where source_system = ? and not is_cancellation group by 1)
        select p.product_id, a.description as product, p.other_product_id,
               b.description as other_product, p.lift, p.confidence, p.pair_count,
               ba.product_baskets, b.unit_price as other_price
        from product_cross_sell p
        join baskets ba on ba.product_id = p.product_id
        left join dim_products a on a.product_id = p.product_id
        left join dim_products b on b.product_id = p.other_product_id
        where starts_with(p.product_id, ?)""", [source, f"{source}:"])
    if pairs.empty:
        return {}
    ranked = cross_sell_potential(pairs, settings.cross_sell_take_rate)
    top = ranked.head(settings.top_pairs)
    currency = settings.currency(source)
    section.add(html.heading(f"Top cross-sell pairs, {source}"))
    section.add(html.table(top[["product", "other_product", "lift", "confidence", "pair_count",
                                "baskets_without_other", "revenue_potential"]]
                           .rename(columns={"revenue_potential": f"revenue potential ({currency})"}),
                           {"lift": "{:.1f}", "confidence": "{:.0%}", "pair_count": "{:,.0f}",
                            "baskets_without_other": "{:,.0f}",
                            f"revenue potential ({currency})": "{:,.0f}"}))
    section.add(html.paragraph(
        f"Revenue potential = past baskets with the first product but not the second x "
        f"{settings.cross_sell_take_rate:.0%} take rate x the second product's typical price; "
        f"the {settings.top_pairs} pairs above could add "
        f"{context.money(float(top['revenue_potential'].sum()), source)} over a period like the "
        "history."))
    return {"top_pairs_potential": float(top["revenue_potential"].sum()),
            "top_pair": f"{top['product'].iloc[0]} -> {top['other_product'].iloc[0]}"}


def _served_part(context: ReportContext, section: html.Section) -> None:
    reasons = context.frame("""
        select split_part(customer_id, ':', 1) as source_system, model_name,
               case when reason like 'bought together with %' then 'bought together with ...'
                    when reason like 'similar to %' then 'similar to ...' else reason end as reason,
               count(*) as recommendations, count(distinct customer_id) as customers
        from customer_recommendations group by all order by 1, 4 desc""")
    section.add(html.heading("Recommendations served (customer_recommendations)"))
    section.add(html.table(reasons, {"recommendations": "{:,.0f}", "customers": "{:,.0f}"}))


def _funnel_part(context: ReportContext, section: html.Section, source: str) -> dict:
    counts = context.frame("select funnel_stage, count(*) as sessions from fct_sessions "
                           "where source_system = ? group by 1", [source])
    funnel = funnel_table(counts)
    section.add(html.heading(f"Browsing funnel, {source}"))
    section.add(html.table(funnel, {"sessions": "{:,.0f}", "share_of_sessions": "{:.1%}",
                                    "conversion_from_previous": "{:.1%}"}))
    figure, ax = new_figure(7, 3.2)
    ax.barh(funnel["stage"][::-1], funnel["sessions"][::-1], color="#2a6f97")
    for row in funnel.itertuples():
        ax.annotate(f"{row.sessions:,} ({row.share_of_sessions:.1%})",
                    (row.sessions, 2 - row.Index), xytext=(4, 0),
                    textcoords="offset points", va="center")
    ax.set(title="Sessions reaching each stage", xlabel="sessions", ylabel="furthest stage reached")
    ax.margins(x=0.25)
    thousands(ax.xaxis)
    saved = context.figures.save(figure, f"recommendations_funnel_{source}",
                                 f"{source}: sessions reaching view, cart and purchase")
    section.add(html.figure(saved))
    return {"view_to_purchase": float(funnel["share_of_sessions"].iloc[-1]),
            "cart_to_purchase": float(funnel["conversion_from_previous"].iloc[-1])}


def recommendations_section(context: ReportContext) -> html.Section:
    section = html.Section("Recommendations")
    section.facts["models"] = _metrics_part(context, section)
    cross_sell = {}
    if context.has("product_cross_sell"):
        for source in context.customer_sources():
            facts = _cross_sell_part(context, section, source)
            if facts:
                cross_sell[source] = facts
        if not cross_sell:
            section.add(html.missing("product_cross_sell has no pairs for any source."))
    else:
        section.add(html.missing(missing_table_note("product_cross_sell",
                                                    "the top cross-sell pairs")))
    section.facts["cross_sell"] = cross_sell
    if context.has("customer_recommendations"):
        _served_part(context, section)
    else:
        section.add(html.missing(missing_table_note("customer_recommendations",
                                                    "the recommendations served")))
    funnels = {}
    sources = context.frame("select distinct source_system from fct_sessions order by 1")
    for source in sources["source_system"]:
        funnels[source] = _funnel_part(context, section, source)
    if not funnels:
        section.add(html.missing("No browsing sessions (fct_sessions is empty): the funnel needs "
                                 "an event log."))
    section.facts["funnels"] = funnels
    return section
