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
from ml.evaluate_customer_models import evaluate
from ml.features import customer_features
from ml.model_registry import METRIC_COLUMNS, DataWindow, metric_rows, model_version
from ml.segmentation import (CampaignResponseModel, choose_k_and_cluster, profile_features,
                             profile_segments, score_clusters)

log = logging.getLogger(__name__)

MIN_CUSTOMERS = 50
# Threads only add contention on a small machine where dbt already runs models side by side.
MODEL_THREADS = 1

SourceScorer = Callable[[str, pd.Timestamp, pd.DataFrame, pd.DataFrame | None], pd.DataFrame]


def as_of_dates(customer_rfm: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Each source's as-of date, as customer_rfm states it (so scores and RFM describe one day)."""
    dates = customer_rfm.groupby("source_system")["as_of_date"].min()
    return {source: pd.Timestamp(date) for source, date in dates.items()}


def _score_sources(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                   events: pd.DataFrame | None, history_days: int, purpose: str,
                   score: SourceScorer) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """`score(source, as_of, lines, events)` for each source with enough history.

    Returns the frames scored and, per source left out, the reason."""
    frames, skipped = [], {}
    with threadpool_limits(MODEL_THREADS):
        for source, as_of in as_of_dates(customer_rfm).items():
            lines = order_lines[order_lines["source_system"] == source]
            source_events = None
            if events is not None and len(events):
                source_events = events[events["source_system"] == source]
            history = (as_of - pd.Timestamp(lines["ordered_at"].min())).days
            customers = lines["customer_id"].nunique()
            if history < history_days or customers < MIN_CUSTOMERS:
                skipped[source] = (f"{history} days of history and {customers} customers; "
                                   f"{purpose} needs {history_days} days and {MIN_CUSTOMERS}")
            else:
                try:
                    frames.append(score(source, as_of, lines, source_events))
                except ValueError as error:
                    skipped[source] = f"{purpose} failed: {error}"
    for source, reason in skipped.items():
        log.warning("%s: skipped for %s (%s)", source, purpose, reason)
    return frames, skipped


def _scored_at(scored_at: pd.Timestamp | None, as_of: pd.Timestamp) -> pd.Timestamp:
    # The run's logical time: passed by the orchestrator, or the as-of date, so rebuilds match.
    return pd.Timestamp(scored_at) if scored_at is not None else as_of


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"customer_id": pd.Series(dtype="str")})


def customer_segments(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                      events: pd.DataFrame | None = None,
                      scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """RFM segment and behaviour cluster of every customer with an RFM score."""
    def score(source, as_of, lines, source_events):
        features = customer_features(lines, as_of, source_events)
        window = DataWindow(pd.Timestamp(lines["ordered_at"].min()), as_of)
        version = model_version(choose_k_and_cluster, {"source": source}, window)
        return score_clusters(features, version, _scored_at(scored_at, as_of), as_of)

    frames, _ = _score_sources(order_lines, customer_rfm, events, 0, "segments", score)
    rfm = customer_rfm[["customer_id", "source_system", "rfm_segment", "rfm_cell",
                        "recency_score", "frequency_score", "monetary_score"]]
    return rfm.merge(_stack(frames), on="customer_id", how="inner")


def customer_churn_scores(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                          events: pd.DataFrame | None = None, horizon_days: int = 90,
                          scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Churn probability, risk tier and top drivers of every customer of each source."""
    def score(source, as_of, lines, source_events):
        scores, _, _ = fit_and_score_churn(lines, as_of, _scored_at(scored_at, as_of),
                                           horizon_days, source_events)
        return scores.assign(source_system=source)

    frames, _ = _score_sources(order_lines, customer_rfm, events, 2 * horizon_days, "churn",
                               score)
    return _stack(frames)


def customer_clv(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                 events: pd.DataFrame | None = None, horizon_days: int = 90,
                 annual_discount_rate: float = 0.1,
                 scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Probability alive, expected purchases and value, and 12-month CLV of every customer."""
    def score(source, as_of, lines, source_events):
        scores, _, _ = fit_and_score_clv(lines, as_of, _scored_at(scored_at, as_of),
                                         horizon_days, annual_discount_rate, source_events)
        return scores.assign(source_system=source)

    frames, _ = _score_sources(order_lines, customer_rfm, events, 2 * horizon_days,
                               "lifetime value", score)
    return _stack(frames)


def _profiles_as_of(customer_profiles: pd.DataFrame) -> pd.Timestamp:
    # The data set does not say when it was taken; the day after the last enrolment is the
    # earliest date that describes every customer in it.
    return pd.Timestamp(customer_profiles["enrolled_on"].max()) + pd.Timedelta(days=1)


def customer_campaign_response(customer_profiles: pd.DataFrame,
                               scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Demographic and spending segments and the probability of responding to a campaign."""
    if len(customer_profiles) < MIN_CUSTOMERS:
        return _stack([])
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


def customer_model_metrics(order_lines: pd.DataFrame, customer_rfm: pd.DataFrame,
                           customer_profiles: pd.DataFrame, events: pd.DataFrame | None = None,
                           horizon_days: int = 90) -> pd.DataFrame:
    """model_metrics rows of the customer models: out-of-time churn and CLV validation against
    their baselines, and the campaign model's validation AUC. A source that could not be
    validated gets a `skipped` row saying why. (The clustering's chosen k and silhouette travel
    on customer_segments' rows.)"""
    def score(source, as_of, lines, source_events):
        cutoff = as_of - pd.Timedelta(days=horizon_days)
        return evaluate(lines, horizon_days, cutoff, source_events,
                        run_id=f"{source}@{cutoff:%Y-%m-%d}+{horizon_days}d")

    frames, skipped = _score_sources(order_lines, customer_rfm, events, 3 * horizon_days,
                                     "validation", score)
    for source, reason in skipped.items():
        frames.append(pd.DataFrame([{"run_id": f"{source}@skipped", "model_name": "churn_and_clv",
                                     "model_version": "none", "metric": "skipped",
                                     "detail": reason}], columns=list(METRIC_COLUMNS)))
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
            {"validation_roc_auc": auc, "response_rate": float(target.mean())}, len(features)))
    metrics = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(METRIC_COLUMNS))
    return metrics.astype({"value": "float64", "baseline_value": "float64"})
