"""EASE (Steck 2019): a closed-form linear item-item model, a strong baseline on implicit data."""

from typing import Self

import numpy as np
from scipy import sparse
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from ml.recommenders.base import CELLS_PER_BATCH, MAX_DENSE_ITEMS, DenseBlock, Recommender, \
    ScoreBlock, dense_item_space
from ml.recommenders.interactions import InteractionMatrix

# The fit inverts an items x items matrix: cubic time, items^2 memory (float32: 10,000 items is
# 0.4 GB). Larger catalogues keep only their most popular items.
DEFAULT_MAX_ITEMS = MAX_DENSE_ITEMS
SYMMETRISE_BLOCK = 512
# A batch whose customers hold this many modelled items on average is scored by columns
BY_COLUMNS_HISTORY = 32


class EASERecommender(Recommender):
    """Item weights ``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` and diag(B) = 0.

    Only the ``max_items`` items with most buyers are modelled; the others are never recommended.
    """

    name = "ease"

    def __init__(self, l2: float = 200.0, max_items: int = DEFAULT_MAX_ITEMS):
        self.l2 = l2
        self.max_items = max_items

    def _fit(self, matrix: InteractionMatrix) -> None:
        columns = self.modelled_columns(matrix)
        kept = matrix.binary()[:, columns]
        self._fit_gram(columns, kept, (kept.T @ kept).toarray())

    def modelled_columns(self, matrix: InteractionMatrix) -> np.ndarray:
        """The columns of the ``max_items`` items with most buyers (ties: lower column), sorted."""
        return dense_item_space(matrix, self.max_items)

    def fit_with_gram(self, matrix: InteractionMatrix, columns: np.ndarray, gram: np.ndarray
                      ) -> Self:
        """:meth:`fit_matrix`, given ``gram``: how many customers bought each pair of the items at
        ``columns``, its :meth:`modelled_columns` (float32, C order; overwritten), as item-kNN's
        fit counts them (ItemKNNRecommender.fit_counting_gram)."""
        self.matrix_ = matrix
        self._fit_gram(columns, matrix.binary()[:, columns], gram)
        return self

    def _fit_gram(self, columns: np.ndarray, kept: sparse.csr_matrix, gram: np.ndarray) -> None:
        self.modelled_items_ = columns
        # float32 halves the cost of the inversion; with the l2 ridge it is well conditioned
        gram = gram.astype(np.float32, copy=False)
        gram[np.diag_indices_from(gram)] += self.l2
        # one BLAS thread: on a shared 2-core machine OpenBLAS's spinning workers made the
        # inversion two to five times slower than a single thread. The gram and its inverse are
        # symmetric, so their transposes are the same matrices in the other memory order: LAPACK
        # works on the gram's Fortran-ordered view in place, and the weights are divided in place
        # on the inverse's C-ordered view, which scipy's sparse x dense product needs (otherwise
        # it copies the matrix on every batch). Each copy avoided is 0.4 GB of fresh memory.
        with threadpool_limits(1, "blas"):
            weights = inverse_of_positive_definite(gram.T).T
        weights /= -np.diagonal(weights)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = np.ascontiguousarray(weights)
        self.buyers_ = sparse.csr_matrix(kept)

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        history = self.buyers_[rows]
        if history.nnz >= BY_COLUMNS_HISTORY * len(rows):
            # by columns, each weight row the batch needs is read once for all its customers, not
            # once per customer: 400 customers of the 42M shop's wholesale source (64 items each
            # on average) in 67 ms instead of 97. Short histories share few items, and the
            # scattered writes cost more: the event source's (13 items) took 22 ms instead of 21.
            # The sums run in the same order either way, so the scores are the same.
            history = history.tocsc()
        return DenseBlock(np.asarray(history @ self.weights_, dtype=np.float32),
                          self.modelled_items_, self.matrix_.weights.shape[1])

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // max(len(self.modelled_items_), 1))


def inverse_of_positive_definite(matrix: np.ndarray) -> np.ndarray:
    """Inverse through a Cholesky factorisation, about three times cheaper than a general one.
    A Fortran-ordered ``matrix`` is overwritten by its inverse (any other is copied first)."""
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix, lower=False, overwrite_a=True)
    if info == 0:
        inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"EASE gram matrix is not positive definite (LAPACK info {info}); raise l2.")
    # potri fills the upper triangle: mirror it into the lower one in place, a block at a time
    # (np.triu on the whole matrix took longer than the inversion's last step)
    size = len(inverse)
    for start in range(0, size, SYMMETRISE_BLOCK):
        stop = min(start + SYMMETRISE_BLOCK, size)
        diagonal = inverse[start:stop, start:stop]
        inverse[start:stop, start:stop] = np.triu(diagonal) + np.triu(diagonal, 1).T
        inverse[stop:, start:stop] = inverse[start:stop, stop:].T
    return inverse
