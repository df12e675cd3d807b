"""Popularity: the items most customers bought recently, the same list for everyone."""

import numpy as np

from ml.recommenders.base import RankedBlock, Recommender, ScoreBlock
from ml.recommenders.interactions import InteractionMatrix


class PopularityRecommender(Recommender):
    """Ranks items by the number of distinct customers who bought them in the last ``window_days``.

    ``window_days=None`` counts all of history. Recent popularity follows seasonal demand (a gift
    shop's November is not its March); the default month was the best window on Online Retail's
    validation window (30, 60, 90 and 180 days tried).
    """

    name = "popularity"

    def __init__(self, window_days: float | None = 30):
        self.window_days = window_days

    def _fit(self, matrix: InteractionMatrix) -> None:
        buyers = matrix.binary()
        if self.window_days is not None:
            # last_at holds age in days + 1; keep the pairs whose latest purchase is recent
            buyers.data = (matrix.last_at.data <= self.window_days + 1).astype(np.float32)
        recent_buyers = np.asarray(buyers.sum(axis=0)).ravel()
        all_time_buyers = np.asarray(matrix.binary().sum(axis=0)).ravel()
        # all-time buyers break ties among equally recent items, at a weight too small to reorder
        self.item_scores_ = (recent_buyers + all_time_buyers / (all_time_buyers.max() + 1)
                             ).astype(np.float32)
        # best first, ties to the lower column
        self.order_ = np.argsort(-self.item_scores_, kind="stable")

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        return RankedBlock(self.item_scores_, self.order_, len(rows))
