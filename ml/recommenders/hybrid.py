"""Hybrid: a learned blend of every model, tuned on a validation window, with a cold-start fallback.

How it ranks, per customer:

1. candidates: the top ``candidates_per_model`` items of EASE, ALS, item-kNN, content-based and
   popularity, plus the customer's own past items (the ``max_repeat_candidates`` best by buy-again);
2. features of each candidate: each model's score (divided by the customer's best score of that
   model, so scales are comparable across customers) and rank, the customer's history with the
   item (times bought, days since), the customer (history length, days since last purchase) and
   the item (buyers, recent buyers, share of buyers who bought it again);
3. a gradient-boosted classifier, trained on the validation window (did the customer buy the
   candidate in the 30 days after the cut-off?), turns the features into the final score. It learns
   when to repeat and when to propose something new, per kind of customer and item.

The classifiers run on one OpenMP thread: on a shared 2-core machine, spinning OpenMP workers
made them up to twenty times slower, and one thread is fast enough (about a second here).

Two classifiers are trained: one on all candidates, one on new items only, used when the caller
asks to leave out what the customer already bought. Customers with no history get recent
popularity. Use :meth:`HybridRecommender.tune` on a validation split, then :meth:`fit` on all data
(or :func:`fit_hybrid`, which does both from order lines).
"""

from typing import Self

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from ml.evaluation import time_split
from ml.recommenders.als import ALSRecommender
from ml.recommenders.base import CELLS_PER_BATCH, Recommender, top_k_frame, top_k_indices
from ml.recommenders.buy_again import BuyAgainRecommender
from ml.recommenders.content_based import ContentBasedRecommender
from ml.recommenders.ease import EASERecommender
from ml.recommenders.interactions import INTERACTION_COLUMNS, InteractionMatrix, \
    require_columns, shop_interactions
from ml.recommenders.item_knn import ItemKNNRecommender
from ml.recommenders.popularity import PopularityRecommender

RANKED_COMPONENTS = ("ease", "als", "item_knn", "content_based", "popularity")


class HybridRecommender(Recommender):
    """Learned blend of buy-again, EASE, ALS, item-kNN, content-based and popularity."""

    name = "hybrid"

    def __init__(self, products: pd.DataFrame | None = None, candidates_per_model: int = 50,
                 max_repeat_candidates: int = 100, negative_share: float = 0.3,
                 random_state: int = 0):
        self.products = products
        self.candidates_per_model = candidates_per_model
        self.max_repeat_candidates = max_repeat_candidates
        self.negative_share = negative_share
        self.random_state = random_state

    def _new_components(self) -> dict[str, Recommender]:
        """Component models with the settings tuned on the Online Retail validation window."""
        components: dict[str, Recommender] = {
            "buy_again": BuyAgainRecommender(half_life_days=120),
            "ease": EASERecommender(l2=200),
            "als": ALSRecommender(factors=64, alpha=1.0, regularization=0.05),
            "item_knn": ItemKNNRecommender(neighbours=100),
            "popularity": PopularityRecommender(window_days=30),
        }
        if self.products is not None:
            components["content_based"] = ContentBasedRecommender(self.products)
        return components

    def tune(self, train_interactions: pd.DataFrame, validation_truth: pd.DataFrame) -> Self:
        """Learn the blend: fit the components on ``train_interactions`` and the classifiers on
        whether each candidate was bought in the validation window (``validation_truth``:
        customer_id, product_id)."""
        require_columns(validation_truth, ["customer_id", "product_id"], "validation_truth")
        self._fit_components(train_interactions)
        customers = validation_truth["customer_id"].unique()
        rows = self.matrix_.rows_of(customers)
        rows = np.sort(rows[rows >= 0])
        if len(rows) == 0:
            raise ValueError("validation_truth has no customer present in train_interactions; "
                             "the validation window needs customers who also bought before it.")
        truth_keys = pd.MultiIndex.from_frame(validation_truth[["customer_id", "product_id"]])
        random = np.random.default_rng(self.random_state)
        self.rankers_ = {}
        batch_size = max(1, CELLS_PER_BATCH // len(self.item_ids))
        for exclude_seen in (False, True):
            batches = []
            for start in range(0, len(rows), batch_size):
                batch_rows = rows[start:start + batch_size]
                features, positions, pair_columns = self._candidate_features(batch_rows,
                                                                             exclude_seen)
                bought = pd.MultiIndex.from_arrays(
                    [self.matrix_.customer_ids[batch_rows[positions]], self.item_ids[pair_columns]]
                ).isin(truth_keys)
                # a random share of the (many) negatives trains about as well and much faster:
                # it shifts every log-odds by roughly one constant, which keeps the ranking
                kept = bought | (random.random(len(bought)) < self.negative_share)
                batches.append(features.assign(bought=bought)[kept])
            labelled = pd.concat(batches, ignore_index=True)
            features, bought = labelled.drop(columns="bought"), labelled["bought"].to_numpy()
            if bought.all() or not bought.any():
                raise ValueError("validation candidates are all bought or all not bought; "
                                 "the validation window is too small to tune the hybrid.")
            ranker = HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=100,
                l2_regularization=1.0, early_stopping=False, random_state=self.random_state)
            with threadpool_limits(1, "openmp"):
                self.rankers_[exclude_seen] = ranker.fit(features, bought)
        return self

    def fit(self, interactions: pd.DataFrame) -> Self:
        """Refit the components on ``interactions``, keeping the blend learned by :meth:`tune`."""
        if not hasattr(self, "rankers_"):
            raise RuntimeError("HybridRecommender.fit needs a learned blend: call tune("
                               "train_interactions, validation_truth) first, or use fit_hybrid.")
        self._fit_components(interactions)
        return self

    def _fit(self, matrix: InteractionMatrix) -> None:
        raise NotImplementedError("the hybrid fits its components from the interactions frame")

    def _fit_components(self, interactions: pd.DataFrame) -> None:
        require_columns(interactions, INTERACTION_COLUMNS, "interactions")
        self.components_ = {name: model.fit(interactions)
                            for name, model in self._new_components().items()}
        self.matrix_ = self.components_["buy_again"].matrix_
        self._item_features = item_features(self.matrix_)
        # the content model also knows unbought catalogue items: map its columns onto ours
        self._component_columns = {
            name: None if np.array_equal(model.item_ids, self.item_ids)
            else model.matrix_.columns_of(self.item_ids)
            for name, model in self.components_.items()}

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._final_scores(rows, exclude_seen=False)

    def _final_scores(self, rows: np.ndarray, exclude_seen: bool) -> np.ndarray:
        features, pair_positions, pair_columns = self._candidate_features(rows, exclude_seen)
        scores = np.full((len(rows), len(self.item_ids)), -np.inf, dtype=np.float32)
        if len(features):
            with threadpool_limits(1, "openmp"):
                probability = self.rankers_[exclude_seen].predict_proba(features)[:, 1]
            scores[pair_positions, pair_columns] = probability
        return scores

    def _recommend_unknown(self, customer_ids: np.ndarray, k: int) -> pd.DataFrame:
        """Customers with no history get the recent best sellers."""
        if len(customer_ids) == 0:
            return super()._recommend_unknown(customer_ids, k)
        popularity = self.components_["popularity"]
        scores = np.tile(popularity.item_scores_, (len(customer_ids), 1))
        return top_k_frame(scores, customer_ids, self.item_ids, k)

    def _component_scores(self, name: str, rows: np.ndarray) -> np.ndarray:
        scores = self.components_[name].score_rows(rows)
        columns = self._component_columns[name]
        return scores if columns is None else scores[:, columns]

    def _candidate_features(self, rows: np.ndarray,
                            exclude_seen: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Features of every (customer, candidate item) pair of the customers at ``rows``.

        Returns the features and, for each pair, the customer's position in ``rows`` and the
        item's column.
        """
        n_items = len(self.item_ids)
        weights = self.matrix_.weights[rows].toarray()
        ages = self.matrix_.last_at[rows].toarray() - 1  # days since the customer last bought it
        seen = weights > 0
        is_candidate = np.zeros((len(rows), n_items), dtype=bool)
        columns: dict[str, np.ndarray] = {}
        for name in RANKED_COMPONENTS:
            if name not in self.components_:
                continue
            scores = self._component_scores(name, rows)
            ranks = rank_matrix(scores, self.candidates_per_model)
            is_candidate |= ranks <= self.candidates_per_model
            best = np.max(np.where(np.isfinite(scores), scores, -np.inf), axis=1, keepdims=True)
            columns[f"{name}_score"] = np.where(np.isfinite(scores) & (best > 0),
                                                scores / np.where(best > 0, best, 1), 0)
            columns[f"{name}_rank"] = ranks
        repeat_scores = self._component_scores("buy_again", rows)
        is_candidate |= rank_matrix(repeat_scores, self.max_repeat_candidates) \
            <= self.max_repeat_candidates
        if exclude_seen:
            is_candidate &= ~seen
        batch_rows, pair_columns = np.nonzero(is_candidate)
        features = {name: values[batch_rows, pair_columns] for name, values in columns.items()}
        if not exclude_seen:  # new items have no history with the customer to describe
            features["times_bought"] = weights[batch_rows, pair_columns]
            features["days_since_bought"] = np.where(seen[batch_rows, pair_columns],
                                                     ages[batch_rows, pair_columns], np.nan)
        features["customer_items"] = seen.sum(axis=1)[batch_rows]
        features["customer_purchases"] = weights.sum(axis=1)[batch_rows]
        features["customer_days_since_last"] = np.where(seen, ages, np.inf).min(axis=1)[batch_rows]
        for name, values in self._item_features.items():
            features[name] = values[pair_columns]
        return pd.DataFrame(features), batch_rows, pair_columns


def rank_matrix(scores: np.ndarray, depth: int) -> np.ndarray:
    """Rank (1 = best) of each item per row among the top ``depth``, ``depth + 1`` beyond them;
    items scored -inf are never ranked."""
    ranks = np.full(scores.shape, depth + 1, dtype=np.float32)
    best = top_k_indices(scores, depth)
    positions = np.broadcast_to(np.arange(1, best.shape[1] + 1, dtype=np.float32), best.shape)
    finite = np.isfinite(np.take_along_axis(scores, best, axis=1))
    batch = np.broadcast_to(np.arange(len(scores))[:, None], best.shape)
    ranks[batch[finite], best[finite]] = positions[finite]
    return ranks


def item_features(matrix: InteractionMatrix) -> dict[str, np.ndarray]:
    """Per item: buyers, recent (30-day) buyers, share of buyers who bought it more than once."""
    buyers = np.asarray(matrix.binary().sum(axis=0)).ravel()
    repeat = matrix.weights.copy()
    repeat.data = (repeat.data > 1).astype(np.float32)
    recent = matrix.binary()
    recent.data = (matrix.last_at.data <= 31).astype(np.float32)
    return {
        "item_buyers": np.log1p(buyers),
        "item_recent_buyers": np.log1p(np.asarray(recent.sum(axis=0)).ravel()),
        "item_repeat_share": np.asarray(repeat.sum(axis=0)).ravel() / np.maximum(buyers, 1),
    }


def fit_hybrid(order_lines: pd.DataFrame, products: pd.DataFrame | None = None,
               window_days: int = 30, events: pd.DataFrame | None = None) -> HybridRecommender:
    """Tune the hybrid on the last ``window_days`` of ``order_lines``, then fit it on them all.

    With an event log (``events``), the models learn from events weighted views < carts <
    purchases (see shop_interactions); what customers then bought is still the truth tuned on.
    """
    split = time_split(order_lines, window_days)
    model = HybridRecommender(products)
    model.tune(shop_interactions(order_lines, events, before=split.test_start), split.truth())
    return model.fit(shop_interactions(order_lines, events))
