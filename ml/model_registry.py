"""What every customer model shares: its interface, its version hash and its rows of `model_metrics`.

A score table row carries ``model_name``, ``model_version``, ``scored_at`` and ``as_of_date``; the
version hashes the model's source code, its parameters and its training window, so two runs with
the same code, settings and data window share a version and a change to any of them is visible.
"""

import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("run_id", "model_name", "model_version", "metric", "value", "baseline_name",
                  "baseline_value", "train_start", "train_end", "test_start", "test_end",
                  "n_customers", "detail")
SCORE_METADATA_COLUMNS = ("model_name", "model_version", "scored_at", "as_of_date")


class CustomerModel(Protocol):
    """The interface churn and CLV models share (pymc-marketing / lifetimes style)."""

    name: str

    def fit(self, features: pd.DataFrame, target: pd.Series | None = None) -> Self: ...

    def predict(self, features: pd.DataFrame) -> pd.Series | pd.DataFrame: ...

    def params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DataWindow:
    """The periods a run learned from and was tested on (test is empty for a scoring run)."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp | None = None
    test_end: pd.Timestamp | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def model_version(model_class: type, params: Mapping[str, Any], training_window: DataWindow) -> str:
    """A 12-hex-digit hash of the class's source, its parameters and the training window."""
    payload = json.dumps({
        "code": inspect.getsource(inspect.getmodule(model_class)),
        "class": model_class.__qualname__,
        "params": _jsonable(params),
        "window": [str(training_window.train_start), str(training_window.train_end)],
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def add_score_metadata(scores: pd.DataFrame, model_name: str, version: str,
                       scored_at: pd.Timestamp, as_of_date: pd.Timestamp) -> pd.DataFrame:
    """Append the metadata columns every score table carries. ``scored_at`` is passed in, not
    read from the clock, so a rebuild writes identical rows."""
    return scores.assign(model_name=model_name, model_version=version,
                         scored_at=pd.Timestamp(scored_at),
                         as_of_date=pd.Timestamp(as_of_date).normalize())


LOWER_IS_BETTER = ("brier", "mae", "rmse", "abs_total_error", "log_loss")


def _best_baseline(metric: str, baselines: Mapping[str, Mapping[str, float]]
                   ) -> tuple[str | None, float]:
    candidates = {name: values[metric] for name, values in baselines.items() if metric in values}
    if not candidates:
        return None, np.nan
    pick = min if metric.startswith(LOWER_IS_BETTER) else max
    name = pick(candidates, key=candidates.get)
    return name, float(candidates[name])


def metric_rows(run_id: str, model_name: str, version: str, window: DataWindow,
                metrics: Mapping[str, float], n_customers: int,
                baselines: Mapping[str, Mapping[str, float]] | None = None,
                details: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rows of ``model_metrics``: one per metric, with the best baseline's value beside the model's.

    ``baselines`` maps a baseline's name to its metrics measured the same way; the row keeps the
    strongest one for its metric (lowest for errors and Brier, highest otherwise), so a dashboard
    reads "beats every baseline" from one comparison. Fitted parameters and chosen settings go in
    ``metrics`` too (e.g. ``param_r``), with ``details`` holding text such as the fallback used.
    """
    baselines = baselines or {}
    details = details or {}
    rows = []
    for metric, value in metrics.items():
        baseline_name, baseline_value = _best_baseline(metric, baselines)
        rows.append({
            "run_id": run_id, "model_name": model_name, "model_version": version,
            "metric": metric, "value": float(value), "baseline_name": baseline_name,
            "baseline_value": baseline_value,
            "train_start": window.train_start, "train_end": window.train_end,
            "test_start": window.test_start, "test_end": window.test_end,
            "n_customers": int(n_customers), "detail": details.get(metric),
        })
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
