"""Item-based collaborative filtering: items bought by the same customers are similar."""

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommenders.base import CELLS_PER_BATCH, DenseBlock, Recommender, ScoreBlock, \
    dense_item_space, sparse_lookup, within_row_rank
from ml.recommenders.interactions import InteractionMatrix
from ml.recommenders.similarity import pruned_cosine_and_gram, similar_items_from_sparse


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
        self._fit_counting(matrix, None)

    def fit_counting_gram(self, matrix: InteractionMatrix, gram_columns: np.ndarray
                          ) -> np.ndarray:
        """:meth:`fit_matrix`, also returning how many customers bought each pair of the items at
        ``gram_columns`` (dense float32), counted by the same pass over the item pairs: what
        EASE inverts (EASERecommender.fit_with_gram)."""
        self.matrix_ = matrix
        return self._fit_counting(matrix, gram_columns)

    def _fit_counting(self, matrix: InteractionMatrix, gram_columns: np.ndarray | None
                      ) -> np.ndarray | None:
        self.binary_ = matrix.binary()
        # column j: item j's similarities to its neighbours (CSC: columns are cheap to select)
        self.similarity_, gram = pruned_cosine_and_gram(self.binary_, self.neighbours,
                                                        gram_columns)
        self.dense_columns_ = dense_item_space(matrix)
        self._dense_similarity = self.similarity_[:, self.dense_columns_].tocsr()
        return gram

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        # Only the neighbours of a customer's items get a score (similarities are positive, so
        # the others stay 0). They reach much of the searched items: scattered into a dense
        # block, the scores need no sort.
        history = self.binary_[rows]

        def pair_scores(positions: np.ndarray, columns: np.ndarray) -> np.ndarray:
            # the few pairs outside the dense block: each item's neighbours looked up in its
            # customer's history (six times faster than a product over the items' columns on
            # the wholesale source at 42M events, whose long histories reach many of them)
            return history_sums(self.similarity_, history, positions, columns)

        return DenseBlock((history @ self._dense_similarity).toarray(), self.dense_columns_,
                          len(self.item_ids), pair_scores, scored_above=0.0)

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // len(self.dense_columns_))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products: product_id, rank, similar_product_id, score."""
        self._check_fitted()
        return similar_items_from_sparse(self.similarity_, self.item_ids, product_ids, k)


def history_sums(similarity: sparse.csc_matrix, history: sparse.csr_matrix,
                 positions: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``(history @ similarity)[positions[i], columns[i]]`` for each i (float32), from column
    ``columns[i]`` of ``similarity`` alone: its stored neighbours, looked up in row
    ``positions[i]`` of ``history``."""
    per_pair = np.diff(similarity.indptr)[columns]
    pair = np.repeat(np.arange(len(columns)), per_pair)
    stored = np.repeat(similarity.indptr[columns], per_pair) + within_row_rank(pair)
    in_history = sparse_lookup(history, positions[pair], similarity.indices[stored], 0.0)
    return np.bincount(pair, weights=in_history * similarity.data[stored],
                       minlength=len(columns)).astype(np.float32)
