"""The interface all recommenders share: ``fit(interactions)``, then ``recommend(customer_ids, k)``.

A subclass only says how to fit on an :class:`InteractionMatrix` and how to score a batch of its
rows against every item; this base class does the rest the same way for every model (ids, batching
so a large shop never holds a customers x items dense matrix, top-k, excluding seen items).
"""

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import pandas as pd

from ml.recommenders.interactions import InteractionMatrix

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score"]
# Customers are scored in batches of at most this many customer x item cells (16 MB of float32
# per score array), so a large shop never holds a dense customers x items matrix.
CELLS_PER_BATCH = 4_000_000


class Recommender(ABC):
    """A model fitted on interactions that scores every item for a known customer."""

    name: str = "recommender"

    def fit(self, interactions: pd.DataFrame) -> Self:
        """Fit on an interactions frame (customer_id, product_id, weight, last_at)."""
        self.matrix_ = InteractionMatrix.from_frame(interactions, self._item_space(interactions))
        self._fit(self.matrix_)
        return self

    def _item_space(self, interactions: pd.DataFrame) -> np.ndarray | None:
        """The items the model can recommend; None means those in the interactions."""
        return None

    @abstractmethod
    def _fit(self, matrix: InteractionMatrix) -> None:
        """Learn the model's parameters from the matrix."""

    @abstractmethod
    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores of the customers at ``rows`` for every item (float32, rows x items).

        Higher is better; ``-inf`` marks an item the model will not recommend to that customer.
        """

    @property
    def item_ids(self) -> np.ndarray:
        return self.matrix_.item_ids

    def recommend(self, customer_ids, k: int = 10, exclude_seen: bool = False) -> pd.DataFrame:
        """Top-``k`` products per customer: customer_id, rank (1 = best), product_id, score.

        Customers the model was not fitted on get no rows (the hybrid falls back for them).
        ``exclude_seen`` leaves out the products a customer already interacted with.
        """
        self._check_fitted()
        customer_ids = np.asarray(pd.unique(pd.Series(customer_ids, dtype=object)), dtype=object)
        rows = self.matrix_.rows_of(customer_ids)
        known = rows >= 0
        frames = [self._recommend_unknown(customer_ids[~known], k)]
        batch_size = max(1, CELLS_PER_BATCH // len(self.item_ids))
        for start in range(0, int(known.sum()), batch_size):
            batch_rows = rows[known][start:start + batch_size]
            batch_customers = customer_ids[known][start:start + batch_size]
            scores = self._final_scores(batch_rows, exclude_seen)
            frames.append(top_k_frame(scores, batch_customers, self.item_ids, k))
        return pd.concat(frames, ignore_index=True)

    def _final_scores(self, rows: np.ndarray, exclude_seen: bool) -> np.ndarray:
        """Scores ready for the top-k cut, with seen items masked when asked."""
        scores = self.score_rows(rows)
        if exclude_seen:
            mask_seen(scores, self.matrix_, rows)
        return scores

    def _recommend_unknown(self, customer_ids: np.ndarray, k: int) -> pd.DataFrame:
        """Recommendations for customers outside the fitted data: none, unless a model overrides."""
        return empty_recommendations()

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call fit(interactions) first.")


def empty_recommendations() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=object),
                         "rank": pd.Series(dtype="int64"),
                         "product_id": pd.Series(dtype=object),
                         "score": pd.Series(dtype="float64")})


def mask_seen(scores: np.ndarray, matrix: InteractionMatrix, rows: np.ndarray) -> None:
    """Set the scores of the items each customer already interacted with to -inf, in place."""
    seen = matrix.weights[rows].tocoo()
    scores[seen.row, seen.col] = -np.inf


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores of each row, best first."""
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    # stable sort on the negated score, ties broken by column index so the output is deterministic
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def top_k_frame(scores: np.ndarray, customer_ids: np.ndarray, item_ids: np.ndarray,
                k: int) -> pd.DataFrame:
    """The k best items of each row of ``scores`` as recommendation rows, dropping -inf scores."""
    best = top_k_indices(scores, k)
    best_scores = np.take_along_axis(scores, best, axis=1)
    ranks = np.broadcast_to(np.arange(1, best.shape[1] + 1), best.shape)
    keep = np.isfinite(best_scores)
    return pd.DataFrame({
        "customer_id": np.repeat(customer_ids, best.shape[1]).reshape(best.shape)[keep],
        "rank": ranks[keep].astype("int64"),
        "product_id": item_ids[best[keep]],
        "score": best_scores[keep].astype("float64"),
    })
