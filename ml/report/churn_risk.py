"""Churn: customers and revenue at risk, the model's out-of-time validation, and a retention
campaign chosen by expected profit."""

import numpy as np
import pandas as pd

from ml.report import html
from ml.report.context import ReportContext, missing_table_note
from ml.report.figures import new_figure, thousands
from ml.report.settings import ReportSettings
from ml.report.validation import calibration_table, gains_table, latest_predictions

TIER_ORDER = ["high", "medium", "low"]
CHURN_METRICS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "top_decile_lift": "top-decile lift",
                 "brier": "Brier score (lower is better)", "churn_rate": "churn rate"}


def retained_value(revenue_12m: pd.Series, annual_discount_rate: float) -> pd.Series:
    """Present value of another year like the last one, spread over 12 months and discounted."""
    months = np.arange(1, 13)
    factor = np.mean((1 + annual_discount_rate) ** (-months / 12))
    return revenue_12m.clip(lower=0) * factor


def risk_tier_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per risk tier: customers, their share, last 12 months' revenue, and the revenue at risk
    (churn probability x that revenue). ``scores``: risk_tier, churn_probability, revenue_12m."""
    frame = scores.assign(revenue_at_risk=scores["churn_probability"] * scores["revenue_12m"])
    table = frame.groupby("risk_tier").agg(customers=("risk_tier", "size"),
                                           mean_churn_probability=("churn_probability", "mean"),
                                           revenue_12m=("revenue_12m", "sum"),
                                           revenue_at_risk=("revenue_at_risk", "sum"))
    table = table.reindex([tier for tier in TIER_ORDER if tier in table.index])
    table.insert(1, "customer_share", table["customers"] / table["customers"].sum())
    table["revenue_share"] = table["revenue_12m"] / table["revenue_12m"].sum()
    return table.rename_axis("risk_tier").reset_index()


def campaign_scenario(scores: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Expected value of contacting each customer, best first.

    A contact keeps a would-be churner with probability ``expected_save_rate``; keeping them is
    worth another year of their last 12 months' revenue (discounted) times the gross margin.
    expected_profit = churn_probability x save rate x retained value x margin - contact cost.
    ``scores``: customer_id, churn_probability, revenue_12m. Adds retained_value,
    expected_saved_revenue, expected_profit, contact (expected_profit > 0), and cumulative
    profit in this order."""
    frame = scores.copy()
    frame["retained_value"] = retained_value(frame["revenue_12m"], settings.annual_discount_rate)
    frame["expected_saved_revenue"] = (frame["churn_probability"] * settings.expected_save_rate
                                       * frame["retained_value"])
    frame["expected_profit"] = (frame["expected_saved_revenue"] * settings.gross_margin
                                - settings.contact_cost)
    frame = frame.sort_values("expected_profit", ascending=False, kind="stable")
    frame["contact"] = frame["expected_profit"] > 0
    frame["cumulative_profit"] = frame["expected_profit"].cumsum()
    return frame.reset_index(drop=True)


def campaign_summary(scenario: pd.DataFrame, settings: ReportSettings) -> dict[str, float]:
    """Totals of the chosen campaign, and what contacting the same number of customers with the
    highest churn probability instead would earn."""
    chosen = scenario[scenario["contact"]]
    cost = len(chosen) * settings.contact_cost
    profit = float(chosen["expected_profit"].sum())
    by_probability = scenario.nlargest(len(chosen), "churn_probability")
    return {
        "customers_contacted": int(len(chosen)),
        "customers_scored": int(len(scenario)),
        "cost": float(cost),
        "expected_saved_revenue": float(chosen["expected_saved_revenue"].sum()),
        "expected_profit": profit,
        "roi": profit / cost if cost else float("nan"),
        "profit_if_chosen_by_probability": float(by_probability["expected_profit"].sum()),
    }


def _scores(context: ReportContext, source: str) -> pd.DataFrame:
    # Revenue of the 12 months before each customer's as-of date, net of cancellations.
    return context.frame("""
        select s.customer_id, s.churn_probability, s.risk_tier, s.driver_1,
               coalesce(r.rfm_segment, 'unscored') as rfm_segment,
               coalesce(sum(o.net_amount), 0) as revenue_12m
        from customer_churn_scores s
        left join customer_rfm r using (customer_id)
        left join fct_orders o
          on o.customer_id = s.customer_id
         and o.ordered_at >= s.as_of_date - interval 365 day and o.ordered_at < s.as_of_date
        where s.source_system = ?
        group by all""", [source])


def _tier_figure(context: ReportContext, tiers: pd.DataFrame, source: str) -> str:
    currency = context.settings.currency(source)
    figure, (left, right) = new_figure(10, 3.6, columns=2)
    colours = {"high": "#c0392b", "medium": "#e67e22", "low": "#27ae60"}
    bar_colours = [colours.get(tier, "grey") for tier in tiers["risk_tier"]]
    left.bar(tiers["risk_tier"], tiers["customers"], color=bar_colours)
    left.set(title="Customers by churn risk tier", xlabel="risk tier", ylabel="customers")
    right.bar(tiers["risk_tier"], tiers["revenue_at_risk"], color=bar_colours)
    right.set(title="Revenue at risk by tier\n(churn probability x last 12 months' revenue)",
              xlabel="risk tier", ylabel=f"revenue at risk ({currency})")
    thousands(left.yaxis)
    thousands(right.yaxis)
    saved = context.figures.save(figure, f"churn_risk_tiers_{source}",
                                 f"{source}: customers and revenue at risk per churn risk tier")
    return html.figure(saved)


def _validation_figures(context: ReportContext, predictions: pd.DataFrame, source: str
                        ) -> tuple[list[str], pd.DataFrame]:
    gains = gains_table(predictions["predicted"], predictions["actual"])
    calibration = calibration_table(predictions["predicted"], predictions["actual"])
    figure, (left, right) = new_figure(10, 3.8, columns=2)
    shares = np.concatenate([[0], gains["cumulative_customer_share"]]) * 100
    captured = np.concatenate([[0], gains["cumulative_positive_share"]]) * 100
    left.plot(shares, captured, marker="o", label="churn model")
    left.plot([0, 100], [0, 100], linestyle="--", color="grey", label="random contact")
    left.set(title="Cumulative gains (out-of-time)", xlabel="customers contacted, highest risk first (%)",
             ylabel="churners reached (%)")
    left.legend()
    right.bar(gains["decile"], gains["lift"], color="#2a6f97")
    right.axhline(1, linestyle="--", color="grey")
    right.set(title="Lift by decile", xlabel="decile of churn probability (1 = highest)",
              ylabel="churn rate / overall churn rate")
    right.set_xticks(gains["decile"])
    gains_saved = context.figures.save(figure, f"churn_gains_lift_{source}",
                                       f"{source}: gains and lift of the churn model on the "
                                       "out-of-time validation")
    figure, ax = new_figure(5, 4.2)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(calibration["mean_predicted"], calibration["observed_rate"], marker="o",
            label="churn model")
    ax.set(title="Calibration (out-of-time)", xlabel="predicted churn probability (bin mean)",
           ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    calibration_saved = context.figures.save(figure, f"churn_calibration_{source}",
                                             f"{source}: predicted churn probability against "
                                             "the observed churn rate")
    return [html.figure(gains_saved), html.figure(calibration_saved)], gains


def _campaign_figure(context: ReportContext, scenario: pd.DataFrame, source: str) -> str:
    currency = context.settings.currency(source)
    by_probability = scenario.sort_values("churn_probability", ascending=False, kind="stable")
    figure, ax = new_figure(8, 4)
    contacted = np.arange(1, len(scenario) + 1)
    ax.plot(contacted, scenario["cumulative_profit"], label="ranked by expected profit")
    ax.plot(contacted, by_probability["expected_profit"].cumsum().to_numpy(),
            label="ranked by churn probability")
    chosen = int(scenario["contact"].sum())
    if chosen:
        ax.axvline(chosen, linestyle=":", color="black",
                   label=f"chosen: {chosen:,} customers (every positive expected profit)")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(title="Retention campaign: expected profit by customers contacted",
           xlabel="customers contacted", ylabel=f"cumulative expected profit ({currency})")
    thousands(ax.xaxis)
    thousands(ax.yaxis)
    ax.legend(loc="lower right")
    saved = context.figures.save(figure, f"churn_campaign_profit_{source}",
                                 f"{source}: expected campaign profit as more customers are "
                                 "contacted, in two orders")
    return html.figure(saved)


def _model_metrics(context: ReportContext, source: str, model_name: str) -> pd.DataFrame:
    return context.frame("""
        select metric, value, baseline_name, baseline_value, run_id
        from model_metrics
        where model_name = ? and starts_with(run_id, ?) and list_contains(?, metric)
        qualify run_id = max(run_id) over ()""",
                         [model_name, f"{source}@", list(CHURN_METRICS)])


def _source_part(context: ReportContext, section: html.Section, source: str) -> None:
    settings = context.settings
    currency = settings.currency(source)
    scores = _scores(context, source)
    section.add(html.heading(f"{source} ({len(scores):,} customers scored)"))
    tiers = risk_tier_summary(scores)
    section.add(html.table(tiers.rename(columns={
        "revenue_12m": f"revenue last 12 months ({currency})",
        "revenue_at_risk": f"revenue at risk ({currency})"}), {
        "customers": "{:,.0f}", "customer_share": "{:.1%}", "mean_churn_probability": "{:.2f}",
        f"revenue last 12 months ({currency})": "{:,.0f}",
        f"revenue at risk ({currency})": "{:,.0f}", "revenue_share": "{:.1%}"}))
    section.add(html.paragraph(
        "Revenue at risk = churn probability (no purchase in the next 90 days) x the customer's "
        "net revenue of the last 12 months."))
    section.add(_tier_figure(context, tiers, source))

    model_name = context.frame("select min(model_name) as m from customer_churn_scores "
                               "where source_system = ?", [source])["m"].iloc[0]
    metrics = _model_metrics(context, source, model_name)
    if not metrics.empty:
        section.add(html.paragraph(f"Out-of-time validation of {model_name} "
                                   f"(run {metrics['run_id'].iloc[0]}) against the strongest "
                                   "baseline on each metric:"))
        section.add(html.table(metrics.assign(metric=metrics["metric"].map(CHURN_METRICS))
                               .drop(columns="run_id"),
                               {"value": "{:.3f}", "baseline_value": "{:.3f}"}))
    predictions = latest_predictions(context, model_name, source)
    gains = None
    if predictions is None or predictions.empty:
        section.add(html.missing(missing_table_note(
            "model_validation_predictions", "the gains, lift and calibration charts of the "
            "out-of-time churn validation")))
    else:
        blocks, gains = _validation_figures(context, predictions, source)
        for block in blocks:
            section.add(block)

    scenario = campaign_scenario(scores[["customer_id", "churn_probability", "revenue_12m",
                                         "rfm_segment"]], settings)
    summary = campaign_summary(scenario, settings)
    section.add(html.paragraph(
        f"Retention campaign: contact the {summary['customers_contacted']:,} of "
        f"{summary['customers_scored']:,} customers whose expected profit is positive. "
        f"Cost {context.money(summary['cost'], source)}, expected saved revenue "
        f"{context.money(summary['expected_saved_revenue'], source)}, expected profit "
        f"{context.money(summary['expected_profit'], source)} (ROI {summary['roi']:.1f}x). "
        f"Contacting the same number of customers by churn probability alone would earn "
        f"{context.money(summary['profit_if_chosen_by_probability'], source)}."))
    section.add(_campaign_figure(context, scenario, source))
    top = scenario[scenario["contact"]].head(10)
    if len(top):
        section.add(html.paragraph("The ten customers worth the most to contact:"))
        section.add(html.table(top[["customer_id", "rfm_segment", "churn_probability",
                                    "revenue_12m", "expected_profit"]],
                               {"churn_probability": "{:.2f}", "revenue_12m": "{:,.0f}",
                                "expected_profit": "{:,.0f}"}))
    segment_risk = (scenario.assign(at_risk=scenario["churn_probability"] * scenario["revenue_12m"])
                    .groupby("rfm_segment")["at_risk"].sum().sort_values(ascending=False))
    section.facts[source] = {"tiers": tiers, "campaign": summary, "gains": gains,
                             "segment_revenue_at_risk": segment_risk}


def churn_section(context: ReportContext) -> html.Section:
    section = html.Section("Churn")
    if not context.has("customer_churn_scores"):
        section.add(html.missing(missing_table_note("customer_churn_scores", "churn risk")))
        return section
    sources = context.frame("select source_system, count(*) as n from customer_churn_scores "
                            "group by 1 order by 2 desc, 1")["source_system"].tolist()
    if not sources:
        section.add(html.missing("customer_churn_scores is empty: no source has the two "
                                 "horizons of history churn needs (see model_metrics)."))
    for source in sources:
        _source_part(context, section, source)
    return section
