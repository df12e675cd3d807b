"""Item-based collaborative filtering: items bought by the same customers are similar."""

import numpy as np
import pandas as pd

from ml.recommenders.base import CELLS_PER_BATCH, DenseBlock, Recommender, ScoreBlock, \
    dense_item_space, sparse_lookup
from ml.recommenders.interactions import InteractionMatrix
from ml.recommenders.similarity import pruned_cosine, similar_items_from_sparse


class ItemKNNRecommender(Recommender):
    """Cosine item-kNN on who-bought-what; a customer's score for an item sums its similarities to
    the items they bought, over that item's ``neighbours`` most similar items.

    A customer's best items are searched among the ``MAX_DENSE_ITEMS`` most interacted items, as
    ALS's and the content model's are; any single item's score is exact.
    """

    name = "item_knn"

    def __init__(self, neighbours: int = 100):
        self.neighbours = neighbours

    def _fit(self, matrix: InteractionMatrix) -> None:
        self.binary_ = matrix.binary()
        # column j: item j's similarities to its neighbours (CSC: columns are cheap to select)
        self.similarity_ = pruned_cosine(self.binary_, self.neighbours)
        self.dense_columns_ = dense_item_space(matrix)
        self._dense_similarity = self.similarity_[:, self.dense_columns_].tocsr()

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        # Only the neighbours of a customer's items get a score (similarities are positive, so
        # the others stay 0). They reach much of the searched items: scattered into a dense
        # block, the scores need no sort.
        history = self.binary_[rows]

        def pair_scores(positions: np.ndarray, columns: np.ndarray) -> np.ndarray:
            # the few pairs outside the dense block: one sparse product over their items
            wanted, pair_column = np.unique(columns, return_inverse=True)
            scores = (history @ self.similarity_[:, wanted]).tocsr()
            return sparse_lookup(scores, positions, pair_column, 0.0)

        return DenseBlock((history @ self._dense_similarity).toarray(), self.dense_columns_,
                          len(self.item_ids), pair_scores, scored_above=0.0)

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // len(self.dense_columns_))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products: product_id, rank, similar_product_id, score."""
        self._check_fitted()
        return similar_items_from_sparse(self.similarity_, self.item_ids, product_ids, k)
