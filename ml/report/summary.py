"""The one-page summary: five numbers that matter and three actions, all drawn from the other
sections' facts about the main shop."""

import pandas as pd

from ml.report import html
from ml.report.context import ReportContext

SUMMARY_NUMBERS = 5


def _candidate_numbers(context: ReportContext, source: str, facts: dict) -> list[tuple[str, str]]:
    """(label, value) of every headline number the facts support, most important first."""
    churn = facts["churn"].get(source)
    clv = facts["lifetime_value"].get(source)
    customers = facts["customers"].get(source)
    models = facts["recommendations"].get("models", {}).get(source)
    candidates = []
    if churn:
        tiers = churn["tiers"].set_index("risk_tier")
        if "high" in tiers.index:
            high = tiers.loc["high"]
            candidates.append(("customers at high churn risk",
                               f"{high['customers']:,.0f} ({high['customer_share']:.0%})"))
        total_risk = float(tiers["revenue_at_risk"].sum())
        revenue = float(tiers["revenue_12m"].sum())
        candidates.append(("revenue at risk (churn probability x last 12 months' revenue)",
                           f"{context.money(total_risk, source)} "
                           f"({total_risk / revenue:.0%})" if revenue else "n/a"))
        campaign = churn["campaign"]
        candidates.append((f"expected profit of the retention campaign "
                           f"({campaign['customers_contacted']:,} contacts)",
                           f"{context.money(campaign['expected_profit'], source)}, "
                           f"ROI {campaign['roi']:.1f}x"))
    if models:
        candidates.append((f"hit-rate uplift of {models['best_model']} over popularity "
                           "(click-through proxy)", f"{models['uplift']:+.0%}"))
    if clv:
        candidates.append(("share of 12-month CLV held by the top 20% of customers",
                           f"{clv['concentration'][0.2]:.0%}"))
    if customers and customers["long_term_aov_change"] is not None:
        candidates.append(("change in long-term customers' order value (last 3 months vs 3 before)",
                           f"{customers['long_term_aov_change']:+.1%}"))
    for funnel_source, funnel in facts["recommendations"].get("funnels", {}).items():
        candidates.append((f"browsing sessions ending in a purchase ({funnel_source})",
                           f"{funnel['view_to_purchase']:.1%}"))
    return candidates


def _actions(context: ReportContext, source: str, facts: dict) -> list[str]:
    churn = facts["churn"].get(source)
    customers = facts["customers"].get(source)
    models = facts["recommendations"].get("models", {}).get(source)
    cross_sell = facts["recommendations"].get("cross_sell", {}).get(source)
    clv = facts["lifetime_value"].get(source)
    actions = []
    if churn and churn["campaign"]["customers_contacted"]:
        campaign = churn["campaign"]
        actions.append(
            f"Run the retention campaign on the {campaign['customers_contacted']:,} customers "
            f"whose expected saved margin exceeds the contact cost: cost "
            f"{context.money(campaign['cost'], source)}, expected saved revenue "
            f"{context.money(campaign['expected_saved_revenue'], source)}, expected profit "
            f"{context.money(campaign['expected_profit'], source)} (the list is in the Churn "
            "section and the dashboard).")
    if customers is not None:
        segments: pd.DataFrame = customers["segments"].set_index("rfm_segment")
        if churn is not None and len(churn["segment_revenue_at_risk"]):
            at_risk = churn["segment_revenue_at_risk"]
            segment = at_risk.index[0]
            reason = f"holds the most revenue at risk ({context.money(float(at_risk.iloc[0]), source)})"
        else:
            segment = segments["revenue_share"].idxmax()
            reason = f"holds the largest revenue share ({segments.loc[segment, 'revenue_share']:.0%})"
        if segment in segments.index:
            actions.append(f"{segment} ({segments.loc[segment, 'customers']:,.0f} customers) "
                           f"{reason}: {segments.loc[segment, 'suggested_action']}.")
    if models and models["uplift"] > 0:
        actions.append(f"Serve {models['best_model']} recommendations instead of the popularity "
                       f"list: hit rate {models['hit_rate']:.1%}, {models['uplift']:+.0%} against "
                       "popularity in the offline test.")
    elif cross_sell:
        actions.append(f"Show the top cross-sell pairs beside their products (first: "
                       f"{cross_sell['top_pair']}): potential "
                       f"{context.money(cross_sell['top_pairs_potential'], source)}.")
    elif clv:
        actions.append(f"Protect the top 20% of customers by CLV: they hold "
                       f"{clv['concentration'][0.2]:.0%} of the next 12 months' value.")
    return actions[:3]


def summary_section(context: ReportContext, facts: dict) -> html.Section:
    """``facts``: the facts of the customers, churn, lifetime_value and recommendations sections."""
    section = html.Section("Summary")
    source = context.main_source()
    if source is None:
        section.add(html.missing("The warehouse has no scored customers: build it with data first."))
        return section
    section.add(html.paragraph(f"Main shop: {source} (amounts in "
                               f"{context.settings.currency(source)}). Other sources are "
                               "reported in their sections."))
    numbers = _candidate_numbers(context, source, facts)[:SUMMARY_NUMBERS]
    section.add(html.numbers([(label, value) for label, value in numbers]))
    actions = _actions(context, source, facts)
    section.add("<h3>What to do</h3>")
    section.add(html.bullet_list(actions, "actions") if actions else html.missing(
        "No action can be computed: churn scores and segments are missing."))
    section.facts = {"source": source, "numbers": numbers, "actions": actions}
    return section
