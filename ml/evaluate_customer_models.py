"""Measure churn and CLV models out of time on any shop's order lines, against their baselines.

Setup (issue 3): cutoff = ``horizon`` days before the last order; population = customers with a
purchase before it. Churn is trained at cutoff - horizon on its labels and tested at the cutoff;
its hyperparameters are tuned one horizon earlier still (train at cutoff - 2 x horizon,
validate at cutoff - horizon). CLV predicts each customer's revenue in the holdout horizon.

    python -m ml.evaluate_customer_models --order-lines-parquet PATH [--horizon-days 90]
        [--in-window-ceiling]

``--in-window-ceiling`` also prints what the models reach when trained on the test cutoff's own
outcomes (see :func:`in_window_ceiling`): a diagnostic of the features, not a validation.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ml.churn import (ChurnModel, RecencyBaseline, churn_columns, churn_metrics,
                      probability_no_purchase, tune_churn_model)
from ml.clv import (GradientBoostingClv, ProbabilisticClv, fit_transaction_model, naive_revenue,
                    revenue_metrics, seasonal_index)
from ml.features import DAY, OrderHistory, churn_labels, holdout_revenue, order_history
from ml.model_registry import DataWindow, metric_rows, model_version

PREDICTION_COLUMNS = ["run_id", "model_name", "customer_id", "predicted", "actual"]


@dataclass(frozen=True)
class Validation:
    """An out-of-time validation: its model_metrics rows and the test predictions behind them."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame


def prediction_rows(run_id: str, model_name: str, predicted: pd.Series,
                    actual: pd.Series) -> pd.DataFrame:
    """One row per test customer: what the model predicted and what happened."""
    return pd.DataFrame({"run_id": run_id, "model_name": model_name,
                         "customer_id": predicted.index.astype(str),
                         "predicted": predicted.to_numpy(dtype="float64"),
                         "actual": actual.reindex(predicted.index).to_numpy(dtype="float64")},
                        columns=PREDICTION_COLUMNS)


RFM_COLUMNS = ["log_days_since_last_order", "log_orders", "log_avg_order_value",
               "log_days_since_first_order"]
MIN_TUNING_CUSTOMERS = 200


def _churn_baselines(train: pd.DataFrame, train_churned: pd.Series, test: pd.DataFrame,
                     test_churned: pd.Series, horizon_days: int) -> dict[str, dict[str, float]]:
    """Every baseline measured exactly as the model: fitted at the training cutoff, tested later."""
    recency = RecencyBaseline().fit(train, train_churned).predict(test)
    rfm = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        train[RFM_COLUMNS], train_churned)
    columns = churn_columns(train)  # the churn model's own columns
    plain_trees = HistGradientBoostingClassifier(random_state=0).fit(train[columns], train_churned)
    # BG/NBD needs no labels: fitted on the test cutoff's own history, as it would be deployed.
    fitter, model_name, _ = fit_transaction_model(test, models=("bg_nbd",))
    as_series = lambda values: pd.Series(values, index=test.index)  # noqa: E731
    return {
        "recency_only": churn_metrics(test_churned, recency),
        "bg_nbd_p_no_purchase": churn_metrics(
            test_churned, probability_no_purchase(fitter, test, horizon_days)),
        "logistic_rfm": churn_metrics(test_churned,
                                      as_series(rfm.predict_proba(test[RFM_COLUMNS])[:, 1])),
        "plain_hist_gradient_boosting": churn_metrics(
            test_churned, as_series(plain_trees.predict_proba(test[columns])[:, 1])),
    }


def evaluate_churn(order_lines: pd.DataFrame | OrderHistory, cutoff: pd.Timestamp,
                   horizon_days: int,
                   run_id: str, events: pd.DataFrame | None = None,
                   products: pd.DataFrame | None = None) -> Validation:
    """model_metrics rows of the churn model and its baselines, tested at ``cutoff``, and the
    model's test predictions (actual = 1 for a customer who churned)."""
    horizon = pd.Timedelta(days=horizon_days)
    history = order_history(order_lines)
    snapshots = {}
    for name, at in (("tune", cutoff - 2 * horizon), ("train", cutoff - horizon),
                     ("test", cutoff)):
        features = history.features(at, events, products)
        snapshots[name] = (features, churn_labels(history, features.index, at, horizon_days))
    (tune_x, tune_y), (train_x, train_y), (test_x, test_y) = snapshots.values()
    if len(tune_x) >= MIN_TUNING_CUSTOMERS and tune_y.nunique() == 2:
        hyperparameters, _ = tune_churn_model(tune_x, tune_y, train_x, train_y)
    else:
        hyperparameters = {}
    model = ChurnModel(**hyperparameters).fit(train_x, train_y)
    predicted = model.predict(test_x)
    metrics = churn_metrics(test_y, predicted)
    metrics["churn_rate"] = float(test_y.mean())
    metrics.update({f"param_{k}": float(v) for k, v in model.params().items()})
    baselines = _churn_baselines(train_x, train_y, test_x, test_y, horizon_days)
    window = DataWindow(history.first_ordered_at, cutoff - horizon, cutoff, cutoff + horizon)
    version = model_version(ChurnModel, {**model.params(), "horizon_days": horizon_days}, window)
    rows = [metric_rows(run_id, model.name, version, window, metrics, len(test_x), baselines)]
    for name, values in baselines.items():
        rows.append(metric_rows(run_id, f"churn_baseline_{name}", "baseline", window, values,
                                len(test_x)))
    return Validation(pd.concat(rows, ignore_index=True),
                      prediction_rows(run_id, model.name, predicted, test_y))


def evaluate_clv(order_lines: pd.DataFrame | OrderHistory, cutoff: pd.Timestamp,
                 horizon_days: int,
                 run_id: str, events: pd.DataFrame | None = None,
                 products: pd.DataFrame | None = None) -> Validation:
    """model_metrics rows of both CLV models and the naive baseline on the holdout horizon, and
    both models' predicted against actual holdout revenue per customer."""
    horizon = pd.Timedelta(days=horizon_days)
    history = order_history(order_lines)
    index, how = seasonal_index(history.orders, cutoff, horizon_days)
    test_x = history.features(cutoff, events, products)
    actual = holdout_revenue(history, test_x.index, cutoff, horizon_days)
    train_cutoff = cutoff - horizon
    train_x = history.features(train_cutoff, events, products)
    train_y = holdout_revenue(history, train_x.index, train_cutoff, horizon_days)
    first_order = history.first_ordered_at
    naive = naive_revenue(test_x, horizon_days, (cutoff - first_order) / DAY)
    baselines = {"naive_daily_spend": revenue_metrics(actual, naive)}

    probabilistic = ProbabilisticClv(seasonal_index=index).fit(test_x)
    boosted = GradientBoostingClv(seasonal_index=index).fit(train_x, train_y)
    window = DataWindow(first_order, cutoff, cutoff, cutoff + horizon)
    rows, predictions = [], []
    # As in production: the trees rank, the probabilistic model's total sizes their forecast.
    probabilistic_total = float(probabilistic.predict(test_x, horizon_days).sum())
    for model, train_window in ((probabilistic, window),
                                (boosted, DataWindow(first_order, train_cutoff, cutoff,
                                                     cutoff + horizon))):
        predicted = (boosted.predict(test_x, total=probabilistic_total) if model is boosted
                     else model.predict(test_x))
        predictions.append(prediction_rows(run_id, model.name, predicted, actual))
        metrics = revenue_metrics(actual, predicted)
        metrics["unadjusted_total_error"] = float(
            (predicted.sum() / index - actual.sum()) / actual.sum())
        metrics.update({f"param_{k}": float(v) for k, v in model.params().items()
                        if isinstance(v, int | float)})
        details = {"param_seasonal_index": how}
        if model is probabilistic:
            report = model.fit_report()
            used = report[report["used"]]
            metrics["fit_attempts_rejected"] = float((~report["used"]).sum())
            # The row says which fits were used and what was wrong with them, if anything.
            details["fit_attempts_rejected"] = "used: " + "; ".join(
                f"{r.model} penalizer={r.penalizer} "
                f"({r.problem if isinstance(r.problem, str) else 'healthy'})"
                for r in used.itertuples())
        version = model_version(type(model), {**model.params(), "horizon_days": horizon_days},
                                train_window)
        rows.append(metric_rows(run_id, model.name, version, train_window, metrics,
                                len(test_x), baselines, details))
    rows.append(metric_rows(run_id, "clv_baseline_naive_daily_spend", "baseline", window,
                            baselines["naive_daily_spend"], len(test_x)))
    return Validation(pd.concat(rows, ignore_index=True),
                      pd.concat(predictions, ignore_index=True))


def validate(order_lines: pd.DataFrame | OrderHistory, horizon_days: int = 90,
             cutoff: pd.Timestamp | None = None, events: pd.DataFrame | None = None,
             run_id: str | None = None, products: pd.DataFrame | None = None) -> Validation:
    """Every churn and CLV figure of the quality bar as ``model_metrics`` rows, with the
    per-customer test predictions behind them (for gains, calibration and decile charts)."""
    # Prepared once: churn and CLV share the features of the cutoff and the one before it.
    history = order_history(order_lines)
    if cutoff is None:
        cutoff = history.last_ordered_at - pd.Timedelta(days=horizon_days)
    cutoff = pd.Timestamp(cutoff)
    run_id = run_id or f"evaluation@{cutoff:%Y-%m-%d}+{horizon_days}d"
    with threadpool_limits(limits=1):  # 2 shared cores: threads only add contention here
        churn = evaluate_churn(history, cutoff, horizon_days, run_id, events, products)
        clv = evaluate_clv(history, cutoff, horizon_days, run_id, events, products)
    return Validation(pd.concat([churn.metrics, clv.metrics], ignore_index=True),
                      pd.concat([churn.predictions, clv.predictions], ignore_index=True))


def evaluate(order_lines: pd.DataFrame, horizon_days: int = 90,
             cutoff: pd.Timestamp | None = None, events: pd.DataFrame | None = None,
             run_id: str | None = None, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every churn and CLV figure of the quality bar, as ``model_metrics`` rows."""
    return validate(order_lines, horizon_days, cutoff, events, run_id, products).metrics


def in_window_ceiling(order_lines: pd.DataFrame | OrderHistory, horizon_days: int = 90,
                      cutoff: pd.Timestamp | None = None, folds: int = 5,
                      events: pd.DataFrame | None = None,
                      products: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the churn and CLV models reach at ``cutoff`` when trained on that cutoff's own
    outcomes, by ``folds``-fold cross-validation (fixed seed): model_name, metric, value.

    No deployed model has these labels (they lie after its cutoff), so this is a diagnostic of
    the features, not a validation: when even it misses a quality bar, better training at an
    earlier cutoff cannot reach the bar, and only new signal can.
    """
    history = order_history(order_lines)
    if cutoff is None:
        cutoff = history.last_ordered_at - pd.Timedelta(days=horizon_days)
    cutoff = pd.Timestamp(cutoff)
    features = history.features(cutoff, events, products)
    churned = churn_labels(history, features.index, cutoff, horizon_days)
    revenue = holdout_revenue(history, features.index, cutoff, horizon_days)
    churn_predicted = np.zeros(len(features))
    clv_predicted = np.zeros(len(features))
    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(features, churned)
    with threadpool_limits(limits=1):
        for train, test in splits:
            churn_model = ChurnModel().fit(features.iloc[train], churned.iloc[train])
            churn_predicted[test] = churn_model.predict(features.iloc[test]).to_numpy()
            clv_model = GradientBoostingClv().fit(features.iloc[train], revenue.iloc[train])
            clv_predicted[test] = clv_model.predict(features.iloc[test]).to_numpy()
    measured = {
        ChurnModel.name: churn_metrics(churned, pd.Series(churn_predicted, index=features.index)),
        GradientBoostingClv.name: revenue_metrics(
            revenue, pd.Series(clv_predicted, index=features.index)),
    }
    return pd.DataFrame([(model_name, metric, value) for model_name, metrics in measured.items()
                         for metric, value in metrics.items()],
                        columns=["model_name", "metric", "value"])


QUALITY_METRICS = ("roc_auc", "pr_auc", "top_decile_lift", "brier", "churn_rate", "mae", "rmse",
                   "spearman", "total_error", "unadjusted_total_error", "param_seasonal_index")


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Model x metric table of the headline figures (parameters left out)."""
    headline = metrics[metrics["metric"].isin(QUALITY_METRICS)]
    table = headline.pivot_table(index="model_name", columns="metric", values="value",
                                 sort=False)
    return table[[m for m in QUALITY_METRICS if m in table.columns]]


def _read_frame(path: Path, frame_name: str) -> pd.DataFrame:
    if not path.exists():
        raise SystemExit(f"{frame_name} file {path} does not exist; export the mart to parquet "
                         f"first (e.g. COPY fct_order_lines TO '{path}' in DuckDB)")
    return pd.read_parquet(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order-lines-parquet", type=Path, required=True,
                        help="fct_order_lines exported to parquet (the ML contract's columns)")
    parser.add_argument("--events-parquet", type=Path, help="fct_customer_activity_days as parquet (optional)")
    parser.add_argument("--products-parquet", type=Path,
                        help="dim_products as parquet (optional: adds seasonal-goods spend)")
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--cutoff", type=pd.Timestamp,
                        help="test cutoff; default: horizon days before the last order")
    parser.add_argument("--output-csv", type=Path, help="also write every model_metrics row here")
    parser.add_argument("--in-window-ceiling", action="store_true",
                        help="also print what the models reach trained on the test cutoff's own "
                             "outcomes (5-fold cross-validation): the features' ceiling")
    args = parser.parse_args(argv)
    order_lines = _read_frame(args.order_lines_parquet, "order_lines")
    events = _read_frame(args.events_parquet, "events") if args.events_parquet else None
    products = _read_frame(args.products_parquet, "products") if args.products_parquet else None
    metrics = evaluate(order_lines, args.horizon_days, args.cutoff, events, products=products)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary_table(metrics).round(3).to_string())
    if args.output_csv:
        metrics.to_csv(args.output_csv, index=False)
    if args.in_window_ceiling:
        ceiling = in_window_ceiling(order_lines, args.horizon_days, args.cutoff, events=events,
                                    products=products)
        print("\nTrained on the test cutoff's own outcomes (5-fold cross-validation; no deployed "
              "model has them):")
        print(ceiling.pivot_table(index="model_name", columns="metric", values="value",
                                  sort=False).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
