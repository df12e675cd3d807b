"""One function per score table: what the dbt Python models (python_models/) call.

Each shop source is scored on its own (its own as-of date, its own fitted models), because two
sources are two different shops. A source whose history is too short for a model is skipped
with a warning rather than scored badly: churn and CLV need two horizons of history, one to
learn from and one whose outcome is known. A model that cannot be fitted on a source (its fit
checks failed, say) skips that source with a warning, and model_metrics records why, instead of
failing the whole build.
"""

import logging
from collections.abc import Callable

import pandas as pd
from threadpoolctl import threadpool_limits

from ml.churn import fit_and_score_churn
from ml.clv import fit_and_score_clv
from ml.dbt_frames import SourceRows
from ml.recommenders.cross_sell import CROSS_SELL_COLUMNS, CROSS_SELL_PARTNERS
from ml.recommenders.interactions import ORDER_LINE_COLUMNS, EventLog, PurchaseLog
from ml.evaluate_customer_models import validate
from ml.features import EVENT_COLUMNS, ORDER_LINE_COLUMNS as HISTORY_COLUMNS, OrderHistory, \
    customer_features, order_histories, order_history_of_batches
from ml.model_registry import DataWindow, metric_rows, model_version
from ml.segmentation import (CampaignResponseModel, choose_k_and_cluster, profile_features,
                             profile_segments, score_clusters)

log = logging.getLogger(__name__)

MIN_CUSTOMERS = 50
# Library thread pools only add contention on a small machine where dbt already runs models side
# by side. (The recommenders run their own threads, each single-threaded: ml.recommenders.base.)
MODEL_THREADS = 1

# The columns of each score table, so a shop with nothing to score still gets a well-formed
# (empty) table that its dbt tests and readers can query.
_METADATA = {"model_name": "str", "model_version": "str", "scored_at": "datetime64[us]",
             "as_of_date": "datetime64[us]"}
SEGMENT_COLUMNS = {"customer_id": "str", "cluster": "int64", "cluster_label": "str",
                   "cluster_count": "int64", "silhouette": "float64", **_METADATA}
CHURN_COLUMNS = {"customer_id": "str", "churn_probability": "float64", "risk_tier": "str",
                 "driver_1": "str", "driver_2": "str", "driver_3": "str", **_METADATA,
                 "source_system": "str"}
CLV_COLUMNS = {"customer_id": "str", "probability_alive": "float64",
               "expected_purchases_90d": "float64", "expected_purchases_180d": "float64",
               "expected_purchases_365d": "float64", "expected_order_value": "float64",
               "clv_12m": "float64", "predicted_revenue_90d": "float64",
               "ml_predicted_revenue_90d": "float64", **_METADATA, "source_system": "str"}
CAMPAIGN_COLUMNS = {"customer_id": "str", "age_band": "str", "income_band": "str",
                    "family": "str", "main_category": "str", "main_channel": "str",
                    "spend_tier": "str", "response_probability": "float64", **_METADATA}
METRIC_TYPES = {"run_id": "str", "model_name": "str", "model_version": "str", "metric": "str",
                "value": "float64", "baseline_name": "str", "baseline_value": "float64",
                "train_start": "datetime64[us]", "train_end": "datetime64[us]",
                "test_start": "datetime64[us]", "test_end": "datetime64[us]",
                "n_customers": "float64", "detail": "str"}

SourceScorer = Callable[[str, pd.Timestamp, pd.DataFrame | PurchaseLog, EventLog | None],
                        pd.DataFrame]


def as_of_dates(customer_rfm: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Each source's as-of date, as customer_rfm states it (so scores and RFM describe one day)."""
    dates = customer_rfm.groupby("source_system")["as_of_date"].min()
    return {source: pd.Timestamp(date) for source, date in dates.items()}


def _score_each(sources, history_days: int, purpose: str
                ) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """Score each of ``sources`` (source, days of history, customers, scorer) that has enough
    history, collecting the frames and, per source left out, the reason (logged)."""
    frames, skipped = [], {}
    with threadpool_limits(MODEL_THREADS):
        for source, days, customers, score in sources:
            if days < history_days or customers < MIN_CUSTOMERS:
                skipped[source] = (f"{days} days of history and {customers} customers; "
                                   f"{purpose} needs {history_days} days and {MIN_CUSTOMERS}")
                continue
            try:
                frames.append(score())
            except ValueError as error:
                skipped[source] = f"{purpose} failed: {error}"
    for source, reason in skipped.items():
        log.warning("%s: skipped for %s (%s)", source, purpose, reason)
    return frames, skipped


def _source_events(events: pd.DataFrame | SourceRows | None, source: str,
                   columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """The events of ``source`` (only ``columns`` of them, when given); None without events.
    SourceRows read only that source's rows."""
    if isinstance(events, SourceRows):
        rows = events.of(source)
    elif events is None or not len(events):
        return None
    else:
        rows = events.loc[events["source_system"] == source]
    return rows if columns is None else rows[[c for c in rows.columns if c in columns]]


def _source_event_log(events: pd.DataFrame | SourceRows | None, source: str) -> EventLog | None:
    """The event log of ``source`` for the recommenders, None without events. From SourceRows
    over DuckDB the rows stay in the warehouse, which sums them into interactions."""
    rows = (events.left_in_duckdb(source) if isinstance(events, SourceRows)
            else _source_events(events, source))
    log = None if rows is None else EventLog(rows)
    return log if log is not None and len(log) else None


def _by_source(mart: pd.DataFrame | SourceRows, table: str) -> SourceRows:
    return mart if isinstance(mart, SourceRows) else SourceRows(mart, table)


def _score_sources(order_lines: pd.DataFrame | SourceRows, customer_rfm: pd.DataFrame,
                   events: pd.DataFrame | SourceRows | None, history_days: int, purpose: str,
                   score: SourceScorer, lines_as_log: bool = False
                   ) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """`score(source, as_of, lines, events)` for each source with enough history, reading each
    source's order lines and events only when its turn comes (see SourceRows). With
    ``lines_as_log`` the lines come as a PurchaseLog, left in the warehouse on DuckDB, for
    models that only group them.

    Returns the frames scored and, per source left out, the reason."""
    order_lines = _by_source(order_lines, "fct_order_lines")

    def sources():
        for source, as_of in as_of_dates(customer_rfm).items():
            lines = (PurchaseLog(order_lines.left_in_duckdb(source)) if lines_as_log
                     else order_lines.of(source))
            log = PurchaseLog.of(lines)
            yield (source, (as_of - log.first_ordered_at).days, log.customer_count,
                   lambda: score(source, as_of, lines, _source_event_log(events, source)))
            del lines, log  # before the next source's lines are read

    return _score_each(sources(), history_days, purpose)


CustomerScorer = Callable[[str, pd.Timestamp, OrderHistory, pd.DataFrame | None], pd.DataFrame]


def _score_customer_sources(order_lines: pd.DataFrame | SourceRows, customer_rfm: pd.DataFrame,
                            events: pd.DataFrame | SourceRows | None, history_days: int,
                            purpose: str, score: CustomerScorer
                            ) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """`_score_sources` for the customer models: `score(source, as_of, history, events)` gets
    the source's lines as an OrderHistory (integer-coded arrays) and only the event columns the
    features read (every column copied is memory).

    From SourceRows (a dbt Python model's marts) each source's lines are read when its turn
    comes, a batch at a time, and coded as they arrive: at 42M events one source's 22.6M lines
    peaked at 7,773 MB read whole and coded (3.1 GB of Arrow, its pandas copy, the codes). From a
    frame the codes are built in one pass over all sources, so no per-source copy is made."""
    if isinstance(order_lines, SourceRows):
        lines = order_lines.only(HISTORY_COLUMNS)

        def history_of(source: str) -> OrderHistory | None:
            return order_history_of_batches(lines.batches(source))
    else:
        histories = order_histories(order_lines) if len(order_lines) else {}

        def history_of(source: str) -> OrderHistory | None:
            # popped: a source's arrays are freed once it is scored
            return histories.pop(source, None)
    if isinstance(events, SourceRows):
        events = events.only(EVENT_COLUMNS)

    def sources():
        for source, as_of in as_of_dates(customer_rfm).items():
            history = history_of(source)
            if history is None:  # no order lines: left out with 0 days and 0 customers
                yield source, 0, 0, None
                continue
            yield (source, (as_of - history.first_ordered_at).days, history.customer_count,
                   lambda: score(source, as_of, history,
                                 _source_events(events, source, EVENT_COLUMNS)))

    return _score_each(sources(), history_days, purpose)


def _scored_at(scored_at: pd.Timestamp | None, as_of: pd.Timestamp) -> pd.Timestamp:
    # The run's logical time: passed by the orchestrator, or the as-of date, so rebuilds match.
    return pd.Timestamp(scored_at) if scored_at is not None else as_of


def _stack(frames: list[pd.DataFrame], columns: dict[str, str]) -> pd.DataFrame:
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def customer_segments(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                      events: pd.DataFrame | None = None,
                      scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """RFM segment and behaviour cluster of every customer with an RFM score."""
    def score(source, as_of, history, source_events):
        features = customer_features(history, as_of, source_events)
        window = DataWindow(history.first_ordered_at, as_of)
        version = model_version(choose_k_and_cluster, {"source": source}, window)
        return score_clusters(features, version, _scored_at(scored_at, as_of), as_of)

    frames, _ = _score_customer_sources(order_lines, customer_rfm, events, 0, "segments", score)
    rfm = customer_rfm[["customer_id", "source_system", "rfm_segment", "rfm_cell",
                        "recency_score", "frequency_score", "monetary_score"]]
    return rfm.merge(_stack(frames, SEGMENT_COLUMNS), on="customer_id", how="inner")


def customer_churn_scores(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                          events: pd.DataFrame | None = None, horizon_days: int = 90,
                          scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Churn probability, risk tier and top drivers of every customer of each source."""
    def score(source, as_of, lines, source_events):
        scores, _, _ = fit_and_score_churn(lines, as_of, _scored_at(scored_at, as_of),
                                           horizon_days, source_events)
        return scores.assign(source_system=source)

    frames, _ = _score_customer_sources(order_lines, customer_rfm, events, 2 * horizon_days,
                                        "churn", score)
    return _stack(frames, CHURN_COLUMNS)


def customer_clv(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                 events: pd.DataFrame | None = None, horizon_days: int = 90,
                 annual_discount_rate: float = 0.1,
                 scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Probability alive, expected purchases and value, and 12-month CLV of every customer."""
    def score(source, as_of, lines, source_events):
        scores, _, _ = fit_and_score_clv(lines, as_of, _scored_at(scored_at, as_of),
                                         horizon_days, annual_discount_rate, source_events)
        return scores.assign(source_system=source)

    frames, _ = _score_customer_sources(order_lines, customer_rfm, events, 2 * horizon_days,
                                        "lifetime value", score)
    return _stack(frames, CLV_COLUMNS)


def _profiles_as_of(customer_profiles: pd.DataFrame) -> pd.Timestamp:
    # The data set does not say when it was taken; the day after the last enrolment is the
    # earliest date that describes every customer in it.
    return pd.Timestamp(customer_profiles["enrolled_on"].max()) + pd.Timedelta(days=1)


def customer_campaign_response(customer_profiles: pd.DataFrame,
                               scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Demographic and spending segments and the probability of responding to a campaign."""
    if len(customer_profiles) < MIN_CUSTOMERS:
        return _stack([], CAMPAIGN_COLUMNS)
    as_of = _profiles_as_of(customer_profiles)
    with threadpool_limits(MODEL_THREADS):
        features = profile_features(customer_profiles, as_of)
        target = customer_profiles.set_index("customer_id")["responded"]
        model = CampaignResponseModel().fit(features, target)
    window = DataWindow(pd.Timestamp(customer_profiles["enrolled_on"].min()), as_of)
    version = model_version(CampaignResponseModel, model.params(), window)
    scores = profile_segments(features).assign(
        response_probability=model.predict(features), model_name=model.name,
        model_version=version, scored_at=_scored_at(scored_at, as_of), as_of_date=as_of)
    return scores.rename_axis("customer_id").reset_index()


VALIDATION_TYPES = {**METRIC_TYPES, "customer_id": "str", "predicted": "float64",
                    "actual": "float64", "row_type": "str"}


def customer_model_validation(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                              customer_profiles: pd.DataFrame, events: pd.DataFrame | None = None,
                              horizon_days: int = 90) -> pd.DataFrame:
    """The customer models' validation in one table, split downstream by `row_type`:

    - `metric` rows (model_metrics): out-of-time churn and CLV validation against their
      baselines, the campaign model's validation AUC, and a `skipped` row per source that could
      not be validated, saying why;
    - `prediction` rows (model_validation_predictions): each test customer's predicted churn
      probability or holdout revenue beside what happened.

    (The clustering's chosen k and silhouette travel on customer_segments' rows.)
    """
    def score(source, as_of, lines, source_events):
        cutoff = as_of - pd.Timedelta(days=horizon_days)
        validation = validate(lines, horizon_days, cutoff, source_events,
                              run_id=f"{source}@{cutoff:%Y-%m-%d}+{horizon_days}d")
        return pd.concat([validation.metrics.assign(row_type="metric"),
                          validation.predictions.assign(row_type="prediction")],
                         ignore_index=True)

    frames, skipped = _score_customer_sources(order_lines, customer_rfm, events,
                                              3 * horizon_days, "validation", score)
    for source, reason in skipped.items():
        frames.append(pd.DataFrame([{"run_id": f"{source}@skipped", "model_name": "churn_and_clv",
                                     "model_version": "none", "metric": "skipped",
                                     "detail": reason, "row_type": "metric"}]))
    if len(customer_profiles) >= MIN_CUSTOMERS:
        as_of = _profiles_as_of(customer_profiles)
        with threadpool_limits(MODEL_THREADS):
            features = profile_features(customer_profiles, as_of)
            target = customer_profiles.set_index("customer_id")["responded"]
            model = CampaignResponseModel()
            auc = model.validation_auc(features, target)
        window = DataWindow(pd.Timestamp(customer_profiles["enrolled_on"].min()), as_of)
        frames.append(metric_rows(
            f"customer_profiles@{as_of:%Y-%m-%d}", model.name,
            model_version(CampaignResponseModel, model.params(), window), window,
            {"validation_roc_auc": auc, "response_rate": float(target.mean())},
            len(features)).assign(row_type="metric"))
    return _stack(frames, VALIDATION_TYPES).reindex(columns=list(VALIDATION_TYPES)).astype(
        VALIDATION_TYPES)


# Recommendations -----------------------------------------------------------------------------

# rank is nullable: recommender_outputs' metric rows have none
RECOMMENDATION_COLUMNS = {"customer_id": "str", "rank": "Int64", "product_id": "str",
                          "score": "float64", "model_name": "str", "reason": "str",
                          "source_system": "str"}
SIMILAR_ITEM_TYPES = {"product_id": "str", "rank": "int64", "similar_product_id": "str",
                      "score": "float64", "source_system": "str"}
CROSS_SELL_TYPES = {"product_id": "str", "other_product_id": "str", "support": "float64",
                    "confidence": "float64", "lift": "float64", "pair_count": "int64",
                    "source_system": "str"}
# recommender_outputs: both tables' columns (source_system once) and which one a row belongs to
RECOMMENDER_OUTPUT_TYPES = {**RECOMMENDATION_COLUMNS, **METRIC_TYPES, "row_type": "str"}
MIN_PRODUCTS = 20
# The hybrid is tuned on the 30 days before the last 30; evaluation needs both windows too.
RECOMMENDER_HISTORY_DAYS = 90


def _catalogue_sources(order_lines: pd.DataFrame | SourceRows, products: pd.DataFrame,
                       customer_rfm: pd.DataFrame, events: pd.DataFrame | SourceRows | None,
                       history_days: int, purpose: str,
                       score: Callable[[str, pd.DataFrame | PurchaseLog, pd.DataFrame,
                                        EventLog | None], pd.DataFrame],
                       lines_as_log: bool = False) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """Like _score_sources, for models that also need a catalogue of `MIN_PRODUCTS` or more:
    `score(source, lines, catalogue, events)`. The order lines and events are frames or, from a
    dbt Python model, SourceRows over the marts (read one source at a time), of which only the
    columns the recommenders use are read; with ``lines_as_log``, a PurchaseLog of the lines."""
    order_lines = _by_source(order_lines, "fct_order_lines").only(ORDER_LINE_COLUMNS)

    def score_source(source, as_of, lines, source_events):
        catalogue = products[products["source_system"] == source]
        bought = PurchaseLog.of(lines).product_count
        if bought < MIN_PRODUCTS:
            raise ValueError(f"{bought} products bought; {purpose} needs {MIN_PRODUCTS}")
        return score(source, lines, catalogue, source_events).assign(source_system=source)

    return _score_sources(order_lines, customer_rfm, events, history_days, purpose, score_source,
                          lines_as_log)


def product_similar_items(order_lines: pd.DataFrame | SourceRows, products: pd.DataFrame,
                          customer_rfm: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The k products most like each catalogue product (bought by the same customers, completed
    by description, category and brand for products with few or no buyers)."""
    from ml.recommenders import outputs

    frames, _ = _catalogue_sources(
        order_lines, products, customer_rfm, None, 0, "similar items",
        lambda source, lines, catalogue, _: outputs.product_similar_items(lines, catalogue, k),
        lines_as_log=True)
    return _stack(frames, SIMILAR_ITEM_TYPES)


def product_cross_sell(order_lines: pd.DataFrame | SourceRows, products: pd.DataFrame,
                       customer_rfm: pd.DataFrame,
                       partners_per_product: int = CROSS_SELL_PARTNERS) -> pd.DataFrame:
    """Frequently bought together pairs with support, confidence and lift: pairs seen in at least
    10 baskets with lift above 1, and of those each product's `partners_per_product` strongest
    by lift."""
    from ml.recommenders import outputs

    frames, _ = _catalogue_sources(
        order_lines, products, customer_rfm, None, 0, "cross-sell",
        lambda source, lines, catalogue, _: outputs.product_cross_sell(
            lines, partners_per_product=partners_per_product),
        lines_as_log=True)
    return _stack(frames, CROSS_SELL_TYPES).astype(
        {"support": "float64", "confidence": "float64", "lift": "float64"})


def recommender_outputs(order_lines: pd.DataFrame | SourceRows, products: pd.DataFrame,
                        customer_rfm: pd.DataFrame,
                        events: pd.DataFrame | SourceRows | None = None, k: int = 10,
                        cross_sell: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the recommenders write, in one table split downstream by ``row_type``:

    - ``recommendation`` rows (customer_recommendations): the top-k products of every customer
      with a purchase, from the hybrid, with a reason;
    - ``metric`` rows (model_metrics): every recommender's offline evaluation on the last 30 days
      of each source, with popularity (the stand-in for the current system) as the baseline
      beside each metric, and a ``skipped`` row per source not served, saying why.

    Both come from one pass per source (ml.recommenders.outputs.evaluate_and_recommend), which
    fits the components once less than evaluating and serving apart. A source with an event log
    learns from its views, carts and purchases. "Bought together" reasons come from
    ``cross_sell`` (the product_cross_sell table) when given.
    """
    from ml.recommenders.outputs import evaluate_and_recommend
    from ml.evaluation import time_split

    def score(source, lines, catalogue, source_events):
        companions = None if cross_sell is None else cross_sell.loc[
            cross_sell["source_system"] == source, CROSS_SELL_COLUMNS]
        metrics, recommendations = evaluate_and_recommend(lines, catalogue, k, source_events,
                                                          companions)
        split = time_split(lines)
        metric_rows = recommender_metric_rows(metrics, source, lines.first_ordered_at,
                                              split.test_start, split.test_end)
        return pd.concat([recommendations.assign(row_type="recommendation"),
                          metric_rows.assign(row_type="metric")], ignore_index=True)

    frames, skipped = _catalogue_sources(order_lines, products, customer_rfm, events,
                                         RECOMMENDER_HISTORY_DAYS, "recommendations", score,
                                         lines_as_log=True)
    for source, reason in skipped.items():
        frames.append(pd.DataFrame([{"run_id": f"{source}@skipped", "model_name": "recommenders",
                                     "model_version": "none", "metric": "skipped",
                                     "detail": reason, "source_system": source,
                                     "row_type": "metric"}]))
    return _stack(frames, RECOMMENDER_OUTPUT_TYPES).reindex(
        columns=list(RECOMMENDER_OUTPUT_TYPES)).astype(RECOMMENDER_OUTPUT_TYPES)


def recommender_metric_rows(metrics: pd.DataFrame, source: str, train_start: pd.Timestamp,
                            test_start: pd.Timestamp, test_end: pd.Timestamp) -> pd.DataFrame:
    """ml.evaluate_recommenders' wide table as model_metrics rows: `ndcg_at_10` on all test
    items, `ndcg_at_10_new_items` on items new to the customer, and so on. (Fit times are
    measured by `python -m ml.evaluate_recommenders`, not stored.) ``detail`` says when the
    judged customers were a sample."""
    long = metrics.assign(detail=metrics.get("detail")).melt(
        id_vars=["model_name", "variant", "k", "customers", "detail"],
        value_vars=["recall", "ndcg", "hit_rate", "coverage", "novelty"],
        var_name="measure", value_name="value")
    suffix = long["variant"].map(lambda variant: "" if variant == "all" else "_new_items")
    long["metric"] = long["measure"] + "_at_" + long["k"].astype(str) + suffix
    popularity = long[long["model_name"] == "popularity"].set_index("metric")["value"]
    long["baseline_name"] = "popularity"
    long["baseline_value"] = long["metric"].map(popularity)
    return long.assign(
        run_id=f"{source}@{pd.Timestamp(test_start):%Y-%m-%d}+30d",
        model_version="evaluation", train_start=pd.Timestamp(train_start),
        train_end=pd.Timestamp(test_start), test_start=pd.Timestamp(test_start),
        test_end=pd.Timestamp(test_end), n_customers=long["customers"],
    )[list(METRIC_TYPES)]
