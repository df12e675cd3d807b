"""Item-based collaborative filtering: items bought by the same customers are similar."""

import numpy as np
import pandas as pd

from ml.recommenders.base import ENTRIES_PER_BATCH, MAX_BATCH_ROWS, Recommender, ScoreBlock, \
    SparseBlock
from ml.recommenders.interactions import InteractionMatrix
from ml.recommenders.similarity import pruned_cosine, similar_items_from_sparse


class ItemKNNRecommender(Recommender):
    """Cosine item-kNN on who-bought-what; a customer's score for an item sums its similarities to
    the items they bought, over that item's ``neighbours`` most similar items."""

    name = "item_knn"

    def __init__(self, neighbours: int = 100):
        self.neighbours = neighbours

    def _fit(self, matrix: InteractionMatrix) -> None:
        self.binary_ = matrix.binary()
        self.similarity_ = pruned_cosine(self.binary_, self.neighbours).tocsr()

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        # sparse: only the neighbours of a customer's items get a score, the others score 0
        return SparseBlock(self.binary_[rows] @ self.similarity_, missing=0.0)

    def batch_size(self) -> int:
        # entries a customer's score row holds: at most history x neighbours, at most every item
        per_customer = min(self.similarity_.shape[1],
                           max(1.0, self.binary_.nnz / max(self.binary_.shape[0], 1))
                           * max(self.similarity_.nnz / max(self.similarity_.shape[0], 1), 1.0))
        return int(max(100, min(MAX_BATCH_ROWS, ENTRIES_PER_BATCH // per_customer)))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products: product_id, rank, similar_product_id, score."""
        self._check_fitted()
        return similar_items_from_sparse(self.similarity_, self.item_ids, product_ids, k)
