"""Offline comparison of every recommender on one shop: the rows of ``model_metrics``.

Run ``python -m ml.evaluate_recommenders`` to evaluate on the warehouse's ``fct_order_lines`` and
``dim_products``, or ``python -m ml.evaluate_recommenders --online-retail PATH`` to read UCI Online
Retail straight from its parquet file with the reference cleaning of ``tests/reference_data.py``.
It prints a markdown table ready for BENCHMARKS.md.

The single models are the hybrid's components, fitted once on the full training interactions and
evaluated as they are. Metrics are computed on at most ``JUDGED_CUSTOMERS`` judged customers, a
random sample with a fixed seed (every judged customer of Online Retail, which has fewer); the
``customers`` column and ``detail`` say how many were judged.
"""

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ml.evaluation import DEFAULT_K_VALUES, DEFAULT_WINDOW_DAYS, TrainingSummary, \
    evaluate_recommendations, time_split, validation_split
from ml.paths import PROJECT_DIR, warehouse_path
from ml.recommenders.als import ALSRecommender
from ml.recommenders.base import Recommender
from ml.recommenders.buy_again import BuyAgainRecommender
from ml.recommenders.content_based import ContentBasedRecommender
from ml.recommenders.ease import EASERecommender
from ml.recommenders.hybrid import HybridRecommender
from ml.recommenders.interactions import EventLog, PurchaseLog, shop_matrix
from ml.recommenders.item_knn import ItemKNNRecommender
from ml.recommenders.popularity import PopularityRecommender

METRIC_COLUMNS = ["model_name", "variant", "k", "customers", "recall", "ndcg", "hit_rate",
                  "coverage", "novelty", "fit_seconds", "detail"]
# Customers judged at most (sampled with JUDGED_SEED when there are more)
JUDGED_CUSTOMERS = 10_000
JUDGED_SEED = 0
# The single models' order in the comparison table
SINGLE_MODEL_ORDER = ("popularity", "buy_again", "item_knn", "als", "ease", "content_based")


def single_models(products: pd.DataFrame) -> list[Recommender]:
    """Every single model, with the settings the hybrid uses (tuned on the validation window)."""
    return [PopularityRecommender(window_days=30), BuyAgainRecommender(half_life_days=120),
            ItemKNNRecommender(neighbours=100), ALSRecommender(factors=64, alpha=1.0),
            EASERecommender(l2=200), ContentBasedRecommender(products)]


def _timed(fit: Callable[[], Recommender]) -> tuple[Recommender, float]:
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def judged_sample(truth: pd.DataFrame, max_customers: int = JUDGED_CUSTOMERS,
                  seed: int = JUDGED_SEED) -> tuple[pd.DataFrame, str]:
    """``truth`` restricted to at most ``max_customers`` customers drawn at random with ``seed``,
    and a sentence saying so."""
    customers = np.sort(truth["customer_id"].unique().astype(str))
    if len(customers) <= max_customers:
        return truth, f"all {len(customers):,} judged customers"
    chosen = np.random.default_rng(seed).choice(customers, max_customers, replace=False)
    return (truth[truth["customer_id"].astype(str).isin(chosen)].reset_index(drop=True),
            f"{max_customers:,} of {len(customers):,} judged customers, sampled (seed {seed})")


def evaluate(order_lines: pd.DataFrame | PurchaseLog, products: pd.DataFrame,
             window_days: int = DEFAULT_WINDOW_DAYS,
             k_values: tuple[int, ...] = DEFAULT_K_VALUES,
             events: pd.DataFrame | EventLog | None = None,
             max_judged: int = JUDGED_CUSTOMERS) -> pd.DataFrame:
    """Metrics of every model on the last ``window_days`` of ``order_lines``: the first of
    :func:`evaluate_hybrid`'s results."""
    metrics, _ = evaluate_hybrid(order_lines, products, window_days, k_values, events,
                                 max_judged)
    return metrics


def evaluate_hybrid(order_lines: pd.DataFrame | PurchaseLog, products: pd.DataFrame,
                    window_days: int = DEFAULT_WINDOW_DAYS,
                    k_values: tuple[int, ...] = DEFAULT_K_VALUES,
                    events: pd.DataFrame | EventLog | None = None,
                    max_judged: int = JUDGED_CUSTOMERS
                    ) -> tuple[pd.DataFrame, HybridRecommender]:
    """Metrics of every model on the last ``window_days`` of ``order_lines`` (see ml.evaluation),
    and the hybrid evaluated, fitted on everything before that window.

    The hybrid is tuned on the window before the test window and fitted on everything before the
    test window; ``fit_seconds`` is the wall time of fitting (for the hybrid: tuning + fitting;
    its components are fitted side by side, so theirs overlap).
    With an event log, every model learns from the weighted events before the window (see
    shop_interactions), and "new to the customer" means never interacted with; the truth is
    still what customers bought in the window. The single models are the hybrid's components
    (the settings of :func:`single_models`, fitted on the same training interactions), and at most
    ``max_judged`` judged customers are sampled (see :func:`judged_sample`).
    """
    split = time_split(order_lines, window_days)
    validation = validation_split(split, window_days)
    truth, detail = judged_sample(split.truth(), max_judged)
    train = shop_matrix(order_lines, events, before=split.test_start)
    training = TrainingSummary.of(train, judged=truth["customer_id"].unique())
    hybrid, hybrid_seconds = _timed(lambda: HybridRecommender(products).tune(
        shop_matrix(order_lines, events, before=validation.test_start),
        validation.truth()).fit_matrix(train))
    fitted = [(hybrid.components_[name], hybrid.component_fit_seconds_[name])
              for name in SINGLE_MODEL_ORDER if name in hybrid.components_]
    fitted.append((hybrid, hybrid_seconds))
    frames = []
    for model, fit_seconds in fitted:
        metrics = evaluate_recommendations(
            model.recommend, training, truth, k_values,
            recommends_new_items=not isinstance(model, BuyAgainRecommender))
        frames.append(metrics.assign(model_name=model.name, fit_seconds=fit_seconds,
                                     detail=detail))
    return pd.concat(frames, ignore_index=True)[METRIC_COLUMNS], hybrid


def markdown_table(metrics: pd.DataFrame, k: int) -> str:
    """One row per model at cut-off ``k``: each metric for all items / new items only."""
    at_k = metrics[metrics["k"] == k]
    headers = ["model"] + [f"{metric}@{k} all / new" for metric in
                           ("NDCG", "recall", "hit rate", "coverage", "novelty")] + ["fit s"]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for model_name, rows in at_k.groupby("model_name", sort=False):
        by_variant = rows.set_index("variant")
        cells = [" / ".join("-" if pd.isna(by_variant.at[variant, metric])
                            else f"{by_variant.at[variant, metric]:.3f}"
                            for variant in ("all", "new"))
                 for metric in ("ndcg", "recall", "hit_rate", "coverage", "novelty")]
        lines.append(f"| {model_name} | " + " | ".join(cells)
                     + f" | {rows['fit_seconds'].iloc[0]:.1f} |")
    return "\n".join(lines)


def _read_warehouse() -> tuple[pd.DataFrame, pd.DataFrame]:
    import duckdb

    path = warehouse_path()
    if not path.exists():
        sys.exit(f"warehouse {path} does not exist: run `dbt build` first, or pass "
                 "--online-retail PATH to read UCI Online Retail directly.")
    with duckdb.connect(str(path), read_only=True) as connection:
        return (connection.sql("select * from fct_order_lines").df(),
                connection.sql("select * from dim_products").df())


def _read_online_retail(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    # the reference cleaning lives with the tests, which cross-check the warehouse against it
    sys.path.insert(0, str(PROJECT_DIR / "tests"))
    from reference_data import uci_order_lines, uci_products

    return uci_order_lines(path), uci_products(path)


def main(argv: list[str] | None = None) -> None:
    """Print the comparison table of every recommender."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online-retail", metavar="PARQUET",
                        help="read UCI Online Retail from this parquet file, not the warehouse")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    arguments = parser.parse_args(argv)
    order_lines, products = (_read_online_retail(arguments.online_retail)
                             if arguments.online_retail else _read_warehouse())
    start = time.perf_counter()
    metrics = evaluate(order_lines, products, arguments.window_days)
    for k in sorted(metrics["k"].unique()):
        print(markdown_table(metrics, k), end="\n\n")
    total_fit = metrics.loc[metrics["model_name"] == "hybrid", "fit_seconds"].iloc[0]
    print(f"{metrics['detail'].iloc[0]}; fitting all models (the hybrid's tuning and fit, its "
          f"components included): {total_fit:.1f} s; whole evaluation: "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
