"""Charts of out-of-time validation: gains and lift, calibration, predicted vs actual by decile.

They read ``model_validation_predictions`` (run_id, model_name, customer_id, predicted, actual):
one row per customer of a validation run, churn rows with actual = churned (0/1), CLV rows with
actual = the holdout horizon's revenue.
"""

import numpy as np
import pandas as pd

from ml.report.context import ReportContext

PREDICTION_COLUMNS = ["run_id", "model_name", "customer_id", "predicted", "actual"]


def deciles(predicted: pd.Series) -> pd.Series:
    """Decile 1 = the tenth with the highest prediction; ties broken by order, so every decile
    has the same size (within one)."""
    order = predicted.rank(method="first", ascending=False)
    return np.ceil(order * 10 / len(predicted)).astype(int).clip(1, 10)


def gains_table(predicted: pd.Series, actual: pd.Series) -> pd.DataFrame:
    """Per decile of prediction (1 = highest): customers, positives, rate, lift over the overall
    rate, and the cumulative share of customers and of positives captured."""
    frame = pd.DataFrame({"decile": deciles(predicted), "actual": actual.to_numpy()})
    table = frame.groupby("decile").agg(customers=("actual", "size"),
                                        positives=("actual", "sum")).reset_index()
    overall = frame["actual"].mean()
    table["rate"] = table["positives"] / table["customers"]
    table["lift"] = table["rate"] / overall if overall > 0 else np.nan
    table["cumulative_customer_share"] = table["customers"].cumsum() / table["customers"].sum()
    total = table["positives"].sum()
    table["cumulative_positive_share"] = table["positives"].cumsum() / total if total else np.nan
    return table


def calibration_table(predicted: pd.Series, actual: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, in equal-width probability bins
    (bins without customers are left out)."""
    edges = np.linspace(0, 1, bins + 1)
    bin_of = pd.cut(predicted.clip(0, 1), edges, include_lowest=True)
    frame = pd.DataFrame({"bin": bin_of, "predicted": predicted.to_numpy(),
                          "actual": actual.to_numpy()})
    table = frame.groupby("bin", observed=True).agg(customers=("actual", "size"),
                                                    mean_predicted=("predicted", "mean"),
                                                    observed_rate=("actual", "mean"))
    return table.reset_index(drop=True)


def decile_comparison(predicted: pd.Series, actual: pd.Series) -> pd.DataFrame:
    """Per decile of prediction (1 = highest): mean predicted and mean actual value, and totals."""
    frame = pd.DataFrame({"decile": deciles(predicted), "predicted": predicted.to_numpy(),
                          "actual": actual.to_numpy()})
    return frame.groupby("decile").agg(customers=("actual", "size"),
                                       mean_predicted=("predicted", "mean"),
                                       mean_actual=("actual", "mean"),
                                       total_predicted=("predicted", "sum"),
                                       total_actual=("actual", "sum")).reset_index()


def source_of_run(run_id: str) -> str:
    """Runs are named <source>@<cutoff>[+<horizon>]."""
    return run_id.split("@", 1)[0]


def latest_predictions(context: ReportContext, model_name: str, source: str) -> pd.DataFrame | None:
    """The latest validation run's predictions of ``model_name`` on ``source``; None when the
    table or the run is missing."""
    if not context.has("model_validation_predictions"):
        return None
    runs = context.frame("select distinct run_id from model_validation_predictions "
                         "where model_name = ? and starts_with(run_id, ?) order by run_id",
                         [model_name, f"{source}@"])
    if runs.empty:
        return None
    return context.frame("select customer_id, predicted, actual from model_validation_predictions "
                         "where model_name = ? and run_id = ?", [model_name, runs["run_id"].iloc[-1]])
