"""Lifetime value: its distribution and concentration, value by segment, the holdout check by
decile, and the probability-alive matrix."""

import numpy as np
import pandas as pd

from ml.report import html
from ml.report.context import ReportContext, missing_table_note
from ml.report.figures import heatmap, new_figure
from ml.report.validation import decile_comparison, latest_predictions

ORDER_BINS = [0, 1, 2, 3, 5, 10, 20, np.inf]
ORDER_LABELS = ["1", "2", "3", "4-5", "6-10", "11-20", "21+"]
RECENCY_BINS = [-1, 30, 60, 90, 180, 270, 365, np.inf]
RECENCY_LABELS = ["0-30", "31-60", "61-90", "91-180", "181-270", "271-365", "366+"]
CLV_METRICS = {"mae": "mean absolute error", "spearman": "Spearman rank correlation",
               "total_error": "total error (share of actual revenue)"}


def value_concentration(values: pd.Series, shares: tuple[float, ...] = (0.1, 0.2)
                        ) -> dict[float, float]:
    """Share of the total held by the top ``share`` of customers, for each share."""
    ordered = values.clip(lower=0).sort_values(ascending=False).to_numpy()
    total = ordered.sum()
    return {share: float(ordered[:int(np.ceil(share * len(ordered)))].sum() / total)
            if total > 0 else float("nan") for share in shares}


def value_by_segment(clv: pd.DataFrame) -> pd.DataFrame:
    """Per RFM segment: customers, total and mean 12-month CLV, share of the total.
    ``clv``: rfm_segment, rfm_segment_order, clv_12m."""
    table = clv.groupby(["rfm_segment_order", "rfm_segment"], as_index=False).agg(
        customers=("clv_12m", "size"), clv_total=("clv_12m", "sum"), clv_mean=("clv_12m", "mean"))
    table["clv_share"] = table["clv_total"] / table["clv_total"].sum()
    return table.sort_values("rfm_segment_order").drop(columns="rfm_segment_order")


def alive_matrix(clv: pd.DataFrame) -> pd.DataFrame:
    """Mean probability alive by orders so far (columns) and days since the last order (rows).
    ``clv``: frequency, recency_days, probability_alive."""
    orders = pd.cut(clv["frequency"], ORDER_BINS, labels=ORDER_LABELS)
    recency = pd.cut(clv["recency_days"], RECENCY_BINS, labels=RECENCY_LABELS)
    return (clv.assign(orders=orders, recency=recency)
            .pivot_table(index="recency", columns="orders", values="probability_alive",
                         aggfunc="mean", observed=False)
            .reindex(index=RECENCY_LABELS, columns=ORDER_LABELS))


def _distribution_figure(context: ReportContext, clv: pd.DataFrame, source: str,
                         concentration: dict[float, float]) -> str:
    currency = context.settings.currency(source)
    figure, (left, right) = new_figure(11, 3.8, columns=2)
    positive = clv["clv_12m"][clv["clv_12m"] > 0]
    if len(positive):
        bins = np.logspace(np.log10(max(positive.min(), 1e-2)), np.log10(positive.max()), 40)
        left.hist(positive, bins=bins, color="#2a6f97")
        left.set_xscale("log")
    left.set(title="Distribution of 12-month CLV", xlabel=f"12-month CLV ({currency}, log scale)",
             ylabel="customers")
    ordered = clv["clv_12m"].clip(lower=0).sort_values(ascending=False).to_numpy()
    if ordered.sum() > 0:
        customers = np.arange(1, len(ordered) + 1) / len(ordered) * 100
        right.plot(customers, ordered.cumsum() / ordered.sum() * 100)
        for share, held in concentration.items():
            right.scatter([share * 100], [held * 100], color="#c0392b", zorder=3)
            right.annotate(f"top {share:.0%}: {held:.0%}", (share * 100, held * 100),
                           textcoords="offset points", xytext=(8, -12))
    right.set(title="Concentration of value", xlabel="customers, highest CLV first (%)",
              ylabel="share of total 12-month CLV (%)", ylim=(0, 101))
    saved = context.figures.save(figure, f"clv_distribution_{source}",
                                 f"{source}: 12-month CLV per customer and its concentration")
    return html.figure(saved)


def _decile_figure(context: ReportContext, comparison: pd.DataFrame, source: str,
                   model_name: str) -> str:
    currency = context.settings.currency(source)
    figure, ax = new_figure(8, 3.8)
    width = 0.4
    ax.bar(comparison["decile"] - width / 2, comparison["mean_predicted"], width,
           label=f"predicted ({model_name})")
    ax.bar(comparison["decile"] + width / 2, comparison["mean_actual"], width,
           label="actual holdout revenue")
    ax.set_xticks(comparison["decile"])
    ax.set(title="CLV holdout: predicted vs actual revenue by decile",
           xlabel="decile of predicted revenue (1 = highest)",
           ylabel=f"mean revenue per customer ({currency})")
    ax.legend()
    saved = context.figures.save(figure, f"clv_predicted_vs_actual_{source}",
                                 f"{source}: holdout revenue predicted and observed per decile")
    return html.figure(saved)


def _alive_figure(context: ReportContext, matrix: pd.DataFrame, source: str) -> str:
    figure, ax = new_figure(7.5, 4.2)
    heatmap(ax, matrix, "{:.2f}", "mean probability alive", "RdYlGn")
    ax.set(title="Probability alive by frequency and recency",
           xlabel="orders before the as-of date", ylabel="days since last order")
    saved = context.figures.save(figure, f"clv_probability_alive_{source}",
                                 f"{source}: mean probability that a customer is still active")
    return html.figure(saved)


def _source_part(context: ReportContext, section: html.Section, source: str) -> None:
    currency = context.settings.currency(source)
    clv = context.frame("""
        select c.customer_id, c.clv_12m, c.probability_alive, c.model_name,
               r.frequency, r.recency_days,
               coalesce(r.rfm_segment, 'unscored') as rfm_segment,
               coalesce(r.rfm_segment_order, 99) as rfm_segment_order
        from customer_clv c left join customer_rfm r using (customer_id)
        where c.source_system = ?""", [source])
    section.add(html.heading(f"{source} ({len(clv):,} customers valued)"))
    concentration = value_concentration(clv["clv_12m"])
    total = float(clv["clv_12m"].sum())
    section.add(html.paragraph(
        f"Predicted value of the next 12 months: {context.money(total, source)} in total, "
        f"median {context.money(float(clv['clv_12m'].median()), source)} per customer. The top "
        f"10% of customers hold {concentration[0.1]:.0%} of it, the top 20% "
        f"{concentration[0.2]:.0%}."))
    section.add(_distribution_figure(context, clv, source, concentration))
    segments = value_by_segment(clv)
    section.add(html.table(segments.rename(columns={
        "clv_total": f"12-month CLV ({currency})", "clv_mean": f"mean CLV ({currency})"}), {
        "customers": "{:,.0f}", f"12-month CLV ({currency})": "{:,.0f}",
        f"mean CLV ({currency})": "{:,.0f}", "clv_share": "{:.1%}"}))
    model_name = clv["model_name"].iloc[0]
    metrics = context.frame("""
        select metric, value, baseline_name, baseline_value, run_id from model_metrics
        where model_name = ? and starts_with(run_id, ?) and list_contains(?, metric)
        qualify run_id = max(run_id) over ()""", [model_name, f"{source}@", list(CLV_METRICS)])
    if not metrics.empty:
        section.add(html.paragraph(f"Holdout validation of {model_name} (run "
                                   f"{metrics['run_id'].iloc[0]}), next-horizon revenue:"))
        section.add(html.table(metrics.assign(metric=metrics["metric"].map(CLV_METRICS))
                               .drop(columns="run_id"),
                               {"value": "{:,.3f}", "baseline_value": "{:,.3f}"}))
    predictions = latest_predictions(context, model_name, source)
    if predictions is None or predictions.empty:
        section.add(html.missing(missing_table_note(
            "model_validation_predictions", "predicted against actual holdout revenue by decile")))
    else:
        section.add(_decile_figure(context, decile_comparison(predictions["predicted"],
                                                              predictions["actual"]),
                                   source, model_name))
    section.add(_alive_figure(context, alive_matrix(clv.dropna(subset=["frequency"])), source))
    section.facts[source] = {"clv_total": total, "concentration": concentration,
                             "segments": segments}


def lifetime_value_section(context: ReportContext) -> html.Section:
    section = html.Section("Lifetime value")
    if not context.has("customer_clv"):
        section.add(html.missing(missing_table_note("customer_clv", "lifetime value")))
        return section
    sources = context.frame("select source_system from customer_clv group by 1 "
                            "order by count(*) desc, 1")["source_system"].tolist()
    if not sources:
        section.add(html.missing("customer_clv is empty: no source has the two horizons of "
                                 "history lifetime value needs (see model_metrics)."))
    for source in sources:
        _source_part(context, section, source)
    return section
