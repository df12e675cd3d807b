"""Buy again: a customer's own past purchases, most often and most recently bought first."""

import numpy as np

from ml.recommenders.base import Recommender, ScoreBlock, SparseBlock
from ml.recommenders.interactions import InteractionMatrix


class BuyAgainRecommender(Recommender):
    """Scores each item a customer bought by ``weight * recency``; never proposes a new item.

    Recency is ``0.5 ** (age_days / half_life_days)``: a wholesaler's customers restock what
    they bought lately far more than what they bought once a year ago.
    """

    name = "buy_again"

    def __init__(self, half_life_days: float = 60.0):
        self.half_life_days = half_life_days

    def _fit(self, matrix: InteractionMatrix) -> None:
        scores = matrix.weights.copy()
        age_days = matrix.last_at.data - 1
        scores.data = scores.data * np.power(0.5, age_days / self.half_life_days)
        self.scores_ = scores.astype(np.float32)

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        return SparseBlock(self.scores_[rows])
