"""The interface all recommenders share: ``fit(interactions)``, then ``recommend(customer_ids, k)``.

A subclass says how to fit on an :class:`InteractionMatrix` and how to score a batch of its rows
(:meth:`Recommender.score_block`); this base class does the rest the same way for every model (ids,
batching, top-k, excluding seen items).

Scoring cost is kept linear in customers, a batch of customers at a time: a batch is scored
either sparsely (buy-again, popularity: only the items a customer's history reaches) or densely,
in at most ``CELLS_PER_BATCH`` cells (item-kNN, ALS and content-based candidates over the
``MAX_DENSE_ITEMS`` most interacted items; EASE over the items it models). A :class:`ScoreBlock`
answers the two questions the hybrid asks of a model: each customer's best items, and the score of
any (customer, item) pair, the latter exact for every item.
"""

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Self, TypeVar

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from ml.recommenders.interactions import InteractionMatrix

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score"]
# Customers are scored in batches of at most this many customer x item cells of a dense block
# (16 MB of float32), so a large shop never holds a dense customers x items matrix. Blocks of
# 64 MB served 20,000 customers of the 42M shop a quarter slower, most of it in the kernel:
# glibc maps any block over 32 MB afresh, and memory touched for the first time is slow here
# (BENCHMARKS.md, issue 6, item 28).
CELLS_PER_BATCH = 4_000_000
# Models that need dense scores to find a customer's best items (item-kNN, ALS, content-based)
# search this many most interacted items; EASE models as many. On the generated event shop at
# scale 1 (22,000 products) they hold 96% of the interaction weight. Scores of individual
# (customer, item) pairs stay exact for every item.
MAX_DENSE_ITEMS = 10_000
# Most customers scored at once when no dense block bounds the batch
MAX_BATCH_ROWS = 20_000
# Columns per group whose maxima bound a row's k-th best value (see top_k_dense)
TOP_K_GROUP_WIDTH = 16
# Rows per BLAS call of a dense product of scores (see row_stable_product)
ROWS_PER_PRODUCT = 64

T = TypeVar("T")
R = TypeVar("R")


class ScoreBlock(ABC):
    """A model's scores for a batch of customers (positions 0..n-1 in the batch)."""

    @abstractmethod
    def top(self, depth: int, exclude: sparse.csr_matrix | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each customer's ``depth`` best items: (positions, columns, scores), grouped by position
        in ascending order and best first within it; ties go to the lower column. Items scored
        -inf are never returned, nor the items stored in row p of ``exclude`` for position p."""

    @abstractmethod
    def at(self, positions: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Scores of the given (position, column) pairs (float32; -inf = not scored)."""


class DenseBlock(ScoreBlock):
    """Scores over a subset of columns (``columns``, None = every item), with ``pair_scores``
    (positions, columns) -> scores for items outside it (else ``missing``). Only scores above
    ``scored_above`` can be among a customer's best items."""

    def __init__(self, values: np.ndarray, columns: np.ndarray | None, n_items: int,
                 pair_scores=None, missing: float = -np.inf, scored_above: float = -np.inf):
        self.values = values
        self.columns = np.arange(n_items) if columns is None else np.asarray(columns)
        self.n_items = n_items
        self.pair_scores = pair_scores
        self.missing = missing
        self.scored_above = scored_above

    def _index(self, columns: np.ndarray) -> np.ndarray:
        if len(self.columns) == self.n_items:
            return columns
        index = np.full(self.n_items, -1, dtype=np.int64)
        index[self.columns] = np.arange(len(self.columns))
        return index[columns]

    def top(self, depth, exclude=None):
        values = self.values
        if exclude is not None and exclude.nnz:
            values = values.copy()
            seen = exclude.tocoo()
            inside = self._index(seen.col)
            values[seen.row[inside >= 0], inside[inside >= 0]] = -np.inf
        positions, columns, scores = top_k_dense(values, depth, self.scored_above)
        return positions, self.columns[columns], scores

    def at(self, positions, columns):
        index = self._index(columns)
        inside = index >= 0
        scores = np.full(len(columns), self.missing, dtype=np.float32)
        scores[inside] = self.values[positions[inside], index[inside]]
        if self.pair_scores is not None and not inside.all():
            scores[~inside] = self.pair_scores(positions[~inside], columns[~inside])
        return scores


class SparseBlock(ScoreBlock):
    """Scores stored in a sparse batch x items matrix; absent pairs are not scored (-inf)."""

    def __init__(self, scores: sparse.csr_matrix):
        self.scores = sparse.csr_matrix(scores, dtype=np.float32)
        self.scores.sum_duplicates()

    def top(self, depth, exclude=None):
        scores = self.scores
        if exclude is not None and exclude.nnz:
            scores = without_pairs(scores, exclude)
        return top_k_csr(scores, depth)

    def at(self, positions, columns):
        return sparse_lookup(self.scores, positions, columns, -np.inf)


class RankedBlock(ScoreBlock):
    """The same item scores for every customer of the batch (popularity)."""

    def __init__(self, item_scores: np.ndarray, order: np.ndarray, n_rows: int):
        self.item_scores = item_scores
        self.order = order  # columns best first
        self.n_rows = n_rows

    def top(self, depth, exclude=None):
        seen_per_row = 0 if exclude is None else int(np.diff(exclude.indptr).max(initial=0))
        head = self.order[:depth + seen_per_row]
        positions = np.repeat(np.arange(self.n_rows), len(head))
        columns = np.tile(head, self.n_rows)
        if seen_per_row:
            keep = sparse_lookup(exclude, positions, columns, 0.0) == 0
            positions, columns = positions[keep], columns[keep]
            keep = within_row_rank(positions) < depth
            positions, columns = positions[keep], columns[keep]
        return positions, columns, self.item_scores[columns]

    def at(self, positions, columns):
        return self.item_scores[columns].astype(np.float32)


class Recommender(ABC):
    """A model fitted on interactions that scores items for a known customer."""

    name: str = "recommender"

    def fit(self, interactions: pd.DataFrame) -> Self:
        """Fit on an interactions frame (customer_id, product_id, weight, last_at)."""
        return self.fit_matrix(InteractionMatrix.from_frame(interactions))

    def fit_matrix(self, matrix: InteractionMatrix) -> Self:
        """Fit on an interaction matrix already built (one matrix serves several models)."""
        items = self._item_space(matrix.item_ids)
        self.matrix_ = matrix if items is None else matrix.on_items(items)
        self._fit(self.matrix_)
        return self

    def _item_space(self, interacted_items: np.ndarray) -> np.ndarray | None:
        """The items the model can recommend (sorted), given the sorted ids of those interacted
        with; None means those."""
        return None

    @abstractmethod
    def _fit(self, matrix: InteractionMatrix) -> None:
        """Learn the model's parameters from the matrix."""

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores of the customers at ``rows`` for every item (float32, rows x items);
        ``-inf`` marks an item the model will not recommend. For small data and tests only:
        recommend() goes through :meth:`score_block`."""
        block = self.score_block(rows)
        n_items = len(self.item_ids)
        positions = np.repeat(np.arange(len(rows)), n_items)
        columns = np.tile(np.arange(n_items), len(rows))
        return block.at(positions, columns).reshape(len(rows), n_items)

    @abstractmethod
    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        """Scores of the customers at ``rows`` (a batch of at most :meth:`batch_size`)."""

    def batch_size(self) -> int:
        """Customers per batch."""
        return MAX_BATCH_ROWS

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
        known_rows, known_customers = rows[known], customer_ids[known]
        batch_size = self.batch_size()

        def recommend_batch(start: int) -> pd.DataFrame:
            positions, columns, scores = self._top_items(known_rows[start:start + batch_size], k,
                                                         exclude_seen)
            return recommendation_frame(known_customers[start:start + batch_size], positions,
                                        self.item_ids[columns], scores)

        frames += in_threads(recommend_batch, range(0, len(known_rows), batch_size))
        return pd.concat(frames, ignore_index=True)

    def _top_items(self, rows: np.ndarray, k: int, exclude_seen: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, columns, scores) of the k best items of each customer at ``rows``."""
        return self.score_block(rows).top(k, self.matrix_.weights[rows] if exclude_seen else None)

    def _recommend_unknown(self, customer_ids: np.ndarray, k: int) -> pd.DataFrame:
        """Recommendations for customers outside the fitted data: none, unless a model overrides."""
        return empty_recommendations()

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call fit(interactions) first.")


def worker_threads() -> int:
    """Threads that score batches (and fit components) side by side: the environment variable
    ``GLOBALSHOP_RECOMMENDER_THREADS``, else one per core."""
    return max(1, int(os.environ.get("GLOBALSHOP_RECOMMENDER_THREADS") or os.cpu_count() or 1))


def in_threads(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, computed by :func:`worker_threads` threads.

    The heavy work (numpy, scipy's sparse products, BLAS, implicit, the ranker's trees) releases
    the GIL, so batches run in parallel on several cores. Every BLAS pool is held at one thread
    meanwhile (so a model's nested ``threadpool_limits`` cannot restore a larger pool under
    another thread), and each item is computed alone: results do not depend on the thread count.
    """
    items = list(items)
    threads = min(worker_threads(), len(items))
    if threads <= 1:
        return [function(item) for item in items]
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


def row_stable_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` for dense float32 matrices, ``ROWS_PER_PRODUCT`` rows of ``left`` per BLAS
    call, the last call's rows padded with zeros.

    OpenBLAS chooses its kernel, and with it the order in which a dot product is summed, by the
    shapes of the matrices. A customer's scores computed in a batch of 7 customers then differed
    in their last bit from the same scores in a batch of 300, and a ranker's tree could split
    them apart: a recommendation depended on the batch size. Calls of one shape give every row
    the same sums whatever the batch.
    """
    rows = len(left)
    padded = np.zeros((-(-rows // ROWS_PER_PRODUCT) * ROWS_PER_PRODUCT, left.shape[1]),
                      dtype=np.float32)
    padded[:rows] = left
    product = np.empty((len(padded), right.shape[1]), dtype=np.float32)
    for start in range(0, len(padded), ROWS_PER_PRODUCT):
        np.matmul(padded[start:start + ROWS_PER_PRODUCT], right,
                  out=product[start:start + ROWS_PER_PRODUCT])
    return product[:rows]


def dense_item_space(matrix: InteractionMatrix, max_items: int = MAX_DENSE_ITEMS) -> np.ndarray:
    """Columns of the ``max_items`` items with most interacting customers (ties: lower column),
    sorted; every column when there are no more than that."""
    n_items = matrix.weights.shape[1]
    if n_items <= max_items:
        return np.arange(n_items)
    customers = np.diff(matrix.weights.tocsc().indptr)
    return np.sort(np.argsort(-customers, kind="stable")[:max_items])


def empty_recommendations() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=object),
                         "rank": pd.Series(dtype="int64"),
                         "product_id": pd.Series(dtype=object),
                         "score": pd.Series(dtype="float64")})


def empty_top() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.float32))


def recommendation_frame(customer_ids: np.ndarray, positions: np.ndarray, product_ids: np.ndarray,
                         scores: np.ndarray) -> pd.DataFrame:
    """Recommendation rows from a top list grouped by position, best first."""
    return pd.DataFrame({
        "customer_id": customer_ids[positions],
        "rank": within_row_rank(positions) + 1,
        "product_id": product_ids,
        "score": np.asarray(scores, dtype="float64"),
    })


def within_row_rank(positions: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal ``positions`` (which must be grouped)."""
    if len(positions) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, positions[1:] != positions[:-1]])
    lengths = np.diff(np.r_[starts, len(positions)])
    return np.arange(len(positions)) - np.repeat(starts, lengths)


def top_k_dense(values: np.ndarray, k: int, above: float = -np.inf
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k largest finite values above ``above`` in each row of a dense matrix, as
    :func:`top_k_csr` gives them: (rows, columns, values) grouped by row, best first, ties to the
    lower column.

    Each row's columns are dealt into groups (column j into group j mod the number of groups). The
    groups' maxima are distinct values of the row, so the k-th largest of them is at most the
    row's k-th largest value: only the values at or above it (about k per row, unless many tie)
    are ranked, by :func:`top_k_csr`. A block costs a few passes instead of a partition of every
    row: two to eight times less on the generated shop's 16M-cell blocks, least where many
    values tie at the cut.
    """
    values = np.ascontiguousarray(values)
    n_rows, n_columns = values.shape
    k = min(k, n_columns)
    if k <= 0 or n_rows == 0:
        return empty_top()
    width = int(np.clip(n_columns // (4 * k), 1, TOP_K_GROUP_WIDTH))
    n_groups = n_columns // width
    # grouped by column modulo n_groups, the maxima are an element-wise pass over whole rows
    maxima = values[:, :n_groups * width].reshape(n_rows, width, n_groups).max(axis=1)
    floor = np.partition(maxima, n_groups - k, axis=1)[:, n_groups - k]
    # a row with fewer than k values above `above` keeps those (top_k_csr drops +inf)
    floor = np.maximum(floor, np.nextafter(values.dtype.type(above), values.dtype.type(np.inf)))
    kept = np.flatnonzero(values >= floor[:, None])
    rows, columns = np.divmod(kept, n_columns)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return top_k_csr(sparse.csr_matrix((values.ravel()[kept], columns, indptr),
                                       shape=values.shape), k)


def top_k_csr(scores: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k largest finite stored entries of each row of a CSR matrix: (rows, columns, values)
    grouped by row, best first, ties to the lower column.

    Rows are padded into dense blocks by length class (lengths up to 1, 2, 4, 8, ...), so the cost
    is linear in the stored entries, never rows x columns.
    """
    if not scores.has_sorted_indices:
        # through CSC and back, a counting sort: linear, where sorted_indices sorts each row
        # (3.6 times faster on the blocks of item-kNN's fit at 42M events, the same result)
        scores = scores.tocsc().tocsr()
    indptr, indices, data = scores.indptr, scores.indices, scores.data
    lengths = np.diff(indptr)
    if k <= 0 or lengths.sum() == 0:
        return empty_top()
    classes = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    parts = []
    for length_class in np.unique(classes[lengths > 0]):
        rows = np.flatnonzero((classes == length_class) & (lengths > 0))
        width = int(lengths[rows].max())
        offsets = np.arange(width)
        valid = offsets[None, :] < lengths[rows][:, None]
        where = np.where(valid, indptr[rows][:, None] + offsets[None, :], 0)
        values = np.where(valid, data[where], -np.inf).astype(np.float32)
        values[~np.isfinite(values)] = -np.inf
        columns = np.where(valid, indices[where], np.iinfo(np.int32).max)
        depth = min(k, width)
        if depth < width:
            # the depth-th best value of each row; of the entries tied with it, the lowest columns
            # (stored in column order) fill the remaining places
            kth = -np.partition(-values, depth - 1, axis=1)[:, depth - 1:depth]
            above = values > kth
            tied = values == kth
            needed = depth - above.sum(axis=1, keepdims=True)
            chosen = above | (tied & (np.cumsum(tied, axis=1) <= needed))
            counts = chosen.sum(axis=1)
            slots = np.arange(depth)[None, :] < counts[:, None]
            picked_values = np.full((len(rows), depth), -np.inf, dtype=np.float32)
            picked_columns = np.full((len(rows), depth), np.iinfo(np.int32).max,
                                     dtype=columns.dtype)
            picked_values[slots] = values[chosen]
            picked_columns[slots] = columns[chosen]
            values, columns = picked_values, picked_columns
        order = np.lexsort((columns, -values), axis=1)
        values = np.take_along_axis(values, order, axis=1)
        columns = np.take_along_axis(columns, order, axis=1)
        keep = np.isfinite(values)
        parts.append((np.broadcast_to(rows[:, None], values.shape)[keep], columns[keep],
                      values[keep]))
    positions = np.concatenate([part[0] for part in parts])
    order = np.argsort(positions, kind="stable")
    return (positions[order], np.concatenate([part[1] for part in parts])[order].astype(np.int64),
            np.concatenate([part[2] for part in parts])[order])


def sparse_lookup(matrix: sparse.csr_matrix, rows: np.ndarray, columns: np.ndarray,
                  missing: float = 0.0) -> np.ndarray:
    """``matrix[rows[i], columns[i]]`` for each i (float32), ``missing`` where nothing is stored."""
    matrix = sparse.csr_matrix(matrix)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    n_columns = np.int64(matrix.shape[1])
    stored_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = stored_rows * n_columns + matrix.indices  # sorted: canonical CSR is row-major
    wanted = np.asarray(rows, dtype=np.int64) * n_columns + np.asarray(columns, dtype=np.int64)
    found, hit = sorted_lookup(keys, wanted)
    values = np.full(len(wanted), missing, dtype=np.float32)
    values[hit] = matrix.data[found[hit]]
    return values


def sorted_lookup(sorted_keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``wanted`` sits in ``sorted_keys`` (ascending), and whether it is there at
    all. A binary search per wanted key: ``np.isin`` sorts both arrays again on every call, which
    for 68,000 keys wanted among 1M to 3M took 20 to 90 times longer (BENCHMARKS.md, issue 6,
    item 30)."""
    found = np.searchsorted(sorted_keys, wanted)
    if not len(sorted_keys):
        return found, np.zeros(len(wanted), dtype=bool)
    found = np.minimum(found, len(sorted_keys) - 1)
    return found, sorted_keys[found] == wanted


def without_pairs(matrix: sparse.csr_matrix, exclude: sparse.csr_matrix) -> sparse.csr_matrix:
    """``matrix`` without the entries stored in ``exclude`` (same shape)."""
    coo = matrix.tocoo()
    keep = sparse_lookup(exclude, coo.row, coo.col, 0.0) == 0
    return sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
