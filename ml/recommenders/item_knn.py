"""Item-based collaborative filtering: items bought by the same customers are similar."""

import numpy as np
import pandas as pd

from ml.recommenders.base import CELLS_PER_BATCH, DenseBlock, Recommender, ScoreBlock
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
        # Only the neighbours of a customer's items get a score (similarities are positive, so
        # the others stay 0). They reach much of the catalogue (a third of it for the generated
        # event shop's buyers): scattered into a dense block, the scores need no sort.
        return DenseBlock((self.binary_[rows] @ self.similarity_).toarray(), None,
                          len(self.item_ids), scored_above=0.0)

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // len(self.item_ids))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products: product_id, rank, similar_product_id, score."""
        self._check_fitted()
        return similar_items_from_sparse(self.similarity_, self.item_ids, product_ids, k)
