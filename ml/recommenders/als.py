"""Matrix factorisation on implicit feedback: alternating least squares from ``implicit``."""

from typing import NamedTuple, Self

import numpy as np
import pandas as pd
from implicit.cpu.als import AlternatingLeastSquares
from scipy import sparse
from threadpoolctl import threadpool_limits

from ml.recommenders.base import CELLS_PER_BATCH, DenseBlock, Recommender, ScoreBlock, \
    dense_item_space, row_stable_product
from ml.recommenders.interactions import InteractionMatrix, object_index
from ml.recommenders.similarity import pruned_cosine, similar_items_from_sparse


class WarmStart(NamedTuple):
    """What a fit starts from: an older fit's factors, by customer and item id."""

    customer_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray


class ALSRecommender(Recommender):
    """Implicit ALS (Hu, Koren, Volinsky 2008): confidence ``1 + alpha * weight``.

    ``num_threads`` is 1 by default: implicit's solver calls BLAS's ``ssymv`` for every customer
    at every step, and OpenBLAS takes one process-wide lock for the buffer of each such call, so a
    second thread often waits on the first (on 2 cores: 19.5 s against 21.1 s for two sweeps over
    2M customers; 5.0-7.4 s against 7.0-7.6 s over 1M in session 28; BENCHMARKS.md, issue 6).
    The hybrid gives it every worker thread anyway: its other components finish long before it,
    and ALS then runs alone. Each sweep of implicit solves every customer's factors independently
    of the other customers' (then every item's), so with a fixed ``random_state`` the factors are
    the same bit for bit on any thread count.

    ``iterations`` is 4 and ``warm_iterations`` 2 (implicit's default is 15): 8 sweeps over the
    hybrid's tuning, test and serving fits, of which ALS is the longest at 42M events. Against 6
    and 3, ALS alone scored NDCG@10 0.282 against 0.281 on Online Retail's test window, 0.190
    against 0.199 and 0.306 against 0.298 on the generated scale-1 shop's event and wholesale
    sources, 0.0186 against 0.0171 and 0.2069 against 0.2022 on the 42M shop's; the hybrid moved
    by less than a change of its rankers' seed moves it (BENCHMARKS.md, issue 6, items 23 and 37).

    ``cg_steps`` is 2, not implicit's 3: each customer's and item's factors are solved by fewer
    conjugate-gradient steps per sweep, a sweep of the 42M shop's event source (5.3M customers)
    takes 14 s on one core instead of 19, and ALS alone scored NDCG@10 0.281, 0.298 and 0.198 on
    the windows above (0.280, 0.297 and 0.167 with 3 steps; on the event source's new items
    0.014 against 0.018).

    :meth:`starting_from` a model fitted on older data (the same shop a month earlier, say) starts
    from its factors and runs ``warm_iterations`` instead of ``iterations``: the factors of the
    customers and items both fits know are most of the way there already.
    """

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 4, random_state: int = 42, num_threads: int = 1,
                 warm_iterations: int = 2, cg_steps: int = 2):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.warm_iterations = warm_iterations
        self.cg_steps = cg_steps
        self.warm_start: WarmStart | None = None

    def starting_from(self, previous: "ALSRecommender") -> Self:
        """Fit from ``previous``'s factors (customers and items new since then start at random).
        Only its ids and factors are kept, not the matrix it was fitted on (gigabytes at scale)."""
        if previous.factors != self.factors:
            raise ValueError(f"cannot start {self.factors} factors from {previous.factors}")
        self.warm_start = WarmStart(previous.matrix_.customer_ids, previous.matrix_.item_ids,
                                    previous.user_factors_, previous.item_factors_)
        return self

    def _fit(self, matrix: InteractionMatrix) -> None:
        # implicit runs its own threads; a BLAS thread pool underneath only oversubscribes the cores
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.random_state,
                num_threads=self.num_threads)
            model.cg_steps = self.cg_steps  # a solver setting implicit's constructor does not take
            if self.warm_start is not None:
                model.iterations = self.warm_iterations
                model.user_factors, model.item_factors = self._initial_factors(matrix)
            # the older factors are not needed once copied
            self.warm_started_, self.warm_start = self.warm_start is not None, None
            # the weights are float32 already: implicit reads them without a copy
            model.fit(matrix.weights, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

        # a customer's best items are searched among the most interacted ones (MAX_DENSE_ITEMS);
        # any single item's score is a dot product, exact for every item
        self.dense_columns_ = dense_item_space(matrix)
        self.dense_factors_ = np.ascontiguousarray(self.item_factors_[self.dense_columns_])

    def _initial_factors(self, matrix: InteractionMatrix) -> tuple[np.ndarray, np.ndarray]:
        """The warm start's factors on ``matrix``'s rows and columns; the rest drawn as implicit
        draws them (uniform, scaled by 0.01), with this model's random state."""
        previous = self.warm_start
        random = np.random.default_rng(self.random_state)
        initial = []
        for known, factors in [
                (object_index(previous.customer_ids).get_indexer(matrix.customer_ids),
                 previous.user_factors),
                (object_index(previous.item_ids).get_indexer(matrix.item_ids),
                 previous.item_factors)]:
            # drawn and scaled in place: at 42M events the customers' factors are 1.4 GB, and
            # memory touched for the first time is slow (BENCHMARKS.md, issue 6)
            start = np.empty((len(known), self.factors), dtype=np.float32)
            random.random(dtype=np.float32, out=start)
            start *= 0.01
            start[known >= 0] = factors[known[known >= 0]]
            initial.append(start)
        return initial[0], initial[1]

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        users = self.user_factors_[rows]

        def pair_scores(positions: np.ndarray, columns: np.ndarray) -> np.ndarray:
            return np.einsum("ij,ij->i", users[positions], self.item_factors_[columns])

        return DenseBlock(row_stable_product(users, self.dense_factors_.T), self.dense_columns_,
                          len(self.item_factors_), pair_scores)

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // len(self.dense_columns_))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k nearest products by cosine of their factors."""
        self._check_fitted()
        similarity = pruned_cosine(sparse.csr_matrix(self.item_factors_.T), max(k, 1))
        return similar_items_from_sparse(similarity, self.item_ids, product_ids, k)
