"""Item-based collaborative filtering: items bought by the same customers are similar."""

import numpy as np
import pandas as pd

from ml.recommenders.base import Recommender
from ml.recommenders.interactions import InteractionMatrix
from ml.recommenders.similarity import pruned_cosine, similar_items_frame, sparse_columns


class ItemKNNRecommender(Recommender):
    """Cosine item-kNN on who-bought-what; a customer's score for an item sums its similarities to
    the items they bought, over that item's ``neighbours`` most similar items."""

    name = "item_knn"

    def __init__(self, neighbours: int = 100):
        self.neighbours = neighbours

    def _fit(self, matrix: InteractionMatrix) -> None:
        self.similarity_ = pruned_cosine(matrix.binary(), self.neighbours).tocsr()

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.matrix_.binary()[rows] @ self.similarity_).toarray().astype(np.float32)

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products: product_id, rank, similar_product_id, score."""
        self._check_fitted()
        return similar_items_frame(sparse_columns(self.similarity_), self.item_ids, product_ids, k)
