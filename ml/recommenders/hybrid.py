"""Hybrid: a learned blend of every model, tuned on a validation window, with a cold-start fallback.

How it ranks, per customer:

1. candidates: the top ``candidates_per_model`` items of EASE, ALS, item-kNN, content-based and
   popularity, plus the customer's own past items (the ``max_repeat_candidates`` best by buy-again);
2. features of each candidate: each model's score (divided by the customer's best score of that
   model, so scales are comparable across customers) and rank, the customer's history with the
   item (times bought, days since), the customer (history length, days since last purchase) and
   the item (buyers, recent buyers, share of buyers who bought it again);
3. a gradient-boosted classifier, trained on the validation window (did the customer buy the
   candidate in the 30 days after the cut-off?), turns the features into the final score. It learns
   when to repeat and when to propose something new, per kind of customer and item. When
   recommending, its first trees choose each customer's best candidates, and only those are
   scored by all of them (``PRUNING_TREES``).

The classifiers run on one OpenMP thread: on a shared 2-core machine, spinning OpenMP workers
made them up to twenty times slower, and one thread is fast enough (about a second here).

Two classifiers are trained: one on all candidates, one on new items only, used when the caller
asks to leave out what the customer already bought. Customers with no history get recent
popularity. Use :meth:`HybridRecommender.tune` on a validation split, then :meth:`fit` on all data
(or :func:`fit_hybrid`, which does both from order lines).

Cost: the components are fitted on the full interaction matrix (EASE on its ``MAX_DENSE_ITEMS``
most popular items). Candidates come from each component's top lists (sparse for buy-again
and popularity; item-kNN searches every item, ALS and content-based the ``MAX_DENSE_ITEMS`` most
interacted items, see ml.recommenders.base), and features are computed only for candidate
pairs, so scoring is linear in customers. The classifiers are trained on the candidates of at most
``TUNING_CUSTOMERS`` validation customers, a sample drawn with ``random_state``. Components are
fitted side by side, each on one thread but ALS, the longest, which starts first and solves on
every worker thread (it runs alone once the others finish), and batches of customers scored side
by side, by several threads (see ml.recommenders.base.in_threads). EASE is fitted from the
co-occurrence counts item-kNN's fit makes, not from a second count of its own.
"""

import itertools
import time
from typing import Self

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from ml.evaluation import time_split
from ml.recommenders.als import ALSRecommender
from ml.recommenders.base import Recommender, ScoreBlock, SparseBlock, empty_top, in_threads, \
    sorted_lookup, sparse_lookup, top_k_csr, within_row_rank, worker_threads
from ml.recommenders.buy_again import BuyAgainRecommender
from ml.recommenders.content_based import ContentBasedRecommender
from ml.recommenders.ease import EASERecommender
from ml.recommenders.interactions import EventLog, InteractionMatrix, PurchaseLog, as_matrix, \
    require_columns, shop_matrix
from ml.recommenders.item_knn import ItemKNNRecommender
from ml.recommenders.popularity import PopularityRecommender

RANKED_COMPONENTS = ("ease", "als", "item_knn", "content_based", "popularity")
# Features of a customer's own history with the candidate, absent for new items
TIMES_BOUGHT, DAYS_SINCE_BOUGHT = HISTORY_FEATURES = ("times_bought", "days_since_bought")
# The classifiers learn from the candidates of at most this many validation customers (a fixed
# random sample); Online Retail has fewer, so it is tuned on all of them.
TUNING_CUSTOMERS = 10_000
# Recommending ranks a customer's candidates in two steps, since the ranker's trees are the
# largest cost of scoring a large shop: the first PRUNING_TREES of its 100 trees choose each
# customer's RANKED_CANDIDATES best candidates (of about 170 on the generated 42M shop's
# event source), and only those get the whole ranker's probability. Against the whole ranker on
# every candidate, 15 trees changed the top-10 of 3.0% of the judged customers of Online Retail,
# 11% of the generated scale-1 shop's event source and 0.2% of its wholesale source (30 trees:
# 0.3%, 3.9%, 0.1%), at the same NDCG@10 (BENCHMARKS.md, issue 6, item 24). On the generated
# 42M shop's judged customers, 10 trees instead of 15 changed the top-10 of 1.1% of the event
# source's 9,299 and 0.1% of the wholesale source's 10,000, and 30 candidates instead of 50 8.0%
# and 0.7%, each moving NDCG@10 by at most +0.0002; together they recommend with about a tenth
# less CPU (item 37).
PRUNING_TREES = 10
RANKED_CANDIDATES = 30


class MappedBlock(ScoreBlock):
    """A component's block on its own item space, seen through the hybrid's columns."""

    def __init__(self, block: ScoreBlock, to_component: np.ndarray, n_component_items: int):
        self.block = block
        self.to_component = to_component  # hybrid column -> component column
        self.to_hybrid = np.full(n_component_items, -1, dtype=np.int64)
        self.to_hybrid[to_component] = np.arange(len(to_component))

    def top(self, depth, exclude=None):
        positions, columns, scores = self.block.top(depth)
        columns = self.to_hybrid[columns]
        keep = columns >= 0
        return positions[keep], columns[keep], scores[keep]

    def at(self, positions, columns):
        return self.block.at(positions, self.to_component[columns])


class HybridRecommender(Recommender):
    """Learned blend of buy-again, EASE, ALS, item-kNN, content-based and popularity."""

    name = "hybrid"

    def __init__(self, products: pd.DataFrame | None = None, candidates_per_model: int = 50,
                 max_repeat_candidates: int = 100, negative_share: float = 0.3,
                 random_state: int = 0, tuning_customers: int = TUNING_CUSTOMERS):
        self.products = products
        self.candidates_per_model = candidates_per_model
        self.max_repeat_candidates = max_repeat_candidates
        self.negative_share = negative_share
        self.random_state = random_state
        self.tuning_customers = tuning_customers

    def _new_components(self) -> dict[str, Recommender]:
        """Component models with the settings tuned on the Online Retail validation window."""
        components: dict[str, Recommender] = {
            "buy_again": BuyAgainRecommender(half_life_days=120),
            "ease": EASERecommender(l2=200),
            "als": ALSRecommender(factors=64, alpha=1.0, regularization=0.05,
                                  num_threads=worker_threads()),
            "item_knn": ItemKNNRecommender(neighbours=100),
            "popularity": PopularityRecommender(window_days=30),
        }
        if self.products is not None:
            components["content_based"] = ContentBasedRecommender(self.products)
        return components

    def tune(self, train_interactions: pd.DataFrame | InteractionMatrix,
             validation_truth: pd.DataFrame) -> Self:
        """Learn the blend: fit the components on ``train_interactions`` (a frame, or its matrix)
        and the classifiers on whether each candidate was bought in the validation window
        (``validation_truth``: customer_id, product_id), for at most ``tuning_customers``
        sampled customers."""
        require_columns(validation_truth, ["customer_id", "product_id"], "validation_truth")
        self._fit_components(as_matrix(train_interactions), self._new_components())
        return self.learn_blend(validation_truth)

    def learn_blend(self, validation_truth: pd.DataFrame) -> Self:
        """Learn the classifiers (replacing any learned before) on the components as fitted now,
        from ``validation_truth``: what was bought in the window right after their training data.

        :meth:`tune` fits the components, then calls this. Called after :meth:`fit`, it reuses
        the refitted components, so a hybrid evaluated on one window can be tuned on the next
        without fitting them again (ml.recommenders.outputs.evaluate_and_recommend)."""
        require_columns(validation_truth, ["customer_id", "product_id"], "validation_truth")
        if not hasattr(self, "components_"):
            raise RuntimeError("learn_blend needs fitted components: call tune first.")
        customers = validation_truth["customer_id"].unique()
        rows = self.matrix_.rows_of(customers)
        rows = np.sort(rows[rows >= 0])
        if len(rows) == 0:
            raise ValueError("validation_truth has no customer present in train_interactions; "
                             "the validation window needs customers who also bought before it.")
        random = np.random.default_rng(self.random_state)
        if len(rows) > self.tuning_customers:
            rows = np.sort(random.choice(rows, self.tuning_customers, replace=False))
        self.tuned_customers_ = len(rows)
        # the bought pairs as one integer each, row * items + column (pairs of customers or
        # items the components never saw cannot be candidates)
        n_items = np.int64(len(self.item_ids))
        truth_rows = self.matrix_.rows_of(validation_truth["customer_id"].to_numpy(dtype=object))
        truth_columns = self.matrix_.columns_of(
            validation_truth["product_id"].to_numpy(dtype=object))
        known = (truth_rows >= 0) & (truth_columns >= 0)
        truth_keys = np.unique(truth_rows[known] * n_items + truth_columns[known])
        batch_size = self.batch_size()

        def labelled_candidates(start: int) -> tuple[pd.DataFrame, np.ndarray]:
            batch_rows = rows[start:start + batch_size]
            # one pass serves both classifiers: a new-item candidate has the same features, less
            # the customer's history with the item
            features, positions, pair_columns = self._candidate_features(batch_rows, False)
            _, bought = sorted_lookup(truth_keys, batch_rows[positions] * n_items + pair_columns)
            return features, bought

        batches: dict[bool, list[pd.DataFrame]] = {False: [], True: []}
        for features, bought in in_threads(labelled_candidates, range(0, len(rows), batch_size)):
            # a random share of the (many) negatives trains about as well and much faster:
            # it shifts every log-odds by roughly one constant, which keeps the ranking
            kept = bought | (random.random(len(bought)) < self.negative_share)
            labelled = features.assign(bought=bought)
            batches[False].append(labelled[kept])
            new_item = features[TIMES_BOUGHT].to_numpy() == 0
            batches[True].append(labelled.drop(columns=list(HISTORY_FEATURES))[kept & new_item])
        labelled_sets = {}
        for exclude_seen, labelled_batches in batches.items():
            labelled = pd.concat(labelled_batches, ignore_index=True)
            features, bought = labelled.drop(columns="bought"), labelled["bought"].to_numpy()
            if bought.all() or not bought.any():
                raise ValueError("validation candidates are all bought or all not bought; "
                                 "the validation window is too small to tune the hybrid.")
            labelled_sets[exclude_seen] = features, bought
        # the two classifiers side by side, each on one OpenMP thread (held at one around both,
        # as threadpoolctl's limits are process-wide): 5.6 s instead of 9.3 for two of the
        # tuning sets' size on this 2-core machine
        with threadpool_limits(1, "openmp"):
            self.rankers_ = dict(zip(labelled_sets, in_threads(
                lambda labelled: fitted_ranker(*labelled, self.random_state),
                labelled_sets.values())))
        return self

    def fit_matrix(self, matrix: InteractionMatrix) -> Self:
        """Refit the components on ``matrix``, keeping the blend learned by :meth:`tune`
        (:meth:`fit` does the same from an interactions frame)."""
        if not hasattr(self, "rankers_"):
            raise RuntimeError("HybridRecommender.fit needs a learned blend: call tune("
                               "train_interactions, validation_truth) first, or use fit_hybrid.")
        self.release_fits()
        components, self._next_components = self._next_components, None
        self._fit_components(matrix, components)
        return self

    def release_fits(self) -> Self:
        """Let go of the fitted components, keeping the learned blend and the factors the next
        :meth:`fit_matrix` starts ALS from (those it learned a month earlier: fewer iterations).

        :meth:`fit_matrix` calls it first; call it before building the next fit's matrix as well,
        so that the old fits are not held beside the new matrix: at 42M events (5.3M customers)
        the evaluated fits and the serving matrix together were 13 GB. Until the next fit the
        hybrid cannot recommend."""
        if hasattr(self, "components_"):
            self._next_components = self._new_components()
            self._next_components["als"].starting_from(self.components_["als"])
            del self.components_, self.matrix_, self._item_features
        return self

    def _fit(self, matrix: InteractionMatrix) -> None:
        raise NotImplementedError("the hybrid fits its components in fit_matrix")

    def _fit_components(self, shared: InteractionMatrix,
                        components: dict[str, Recommender]) -> None:
        """Fit ``components`` on ``shared``, one matrix for them all (the content model sees it
        over its whole catalogue)."""

        # EASE inverts the co-occurrence counts item-kNN's fit computes anyway: both are fitted
        # by one task, from one pass over every customer's item pairs (EASE's own pass was 72 of
        # the 42M shop's 1,355 busy thread-seconds), and EASE's seconds exclude the counting
        paired = "item_knn" in components and "ease" in components

        def fit(name: str) -> dict[str, float]:
            start = time.perf_counter()
            if paired and name == "item_knn":
                ease = components["ease"]
                columns = ease.modelled_columns(shared)
                gram = components[name].fit_counting_gram(shared, columns)
                counted = time.perf_counter()
                ease.fit_with_gram(shared, columns, gram)
                return {name: counted - start, "ease": time.perf_counter() - counted}
            components[name].fit_matrix(shared)
            return {name: time.perf_counter() - start}

        # the components are independent: fitted side by side; ALS, the longest fit, first, so
        # the others share the cores meanwhile (its own threads then have them all)
        names = sorted((name for name in components if not (paired and name == "ease")),
                       key=lambda name: name != "als")
        seconds = {name: value for fitted in in_threads(fit, names)
                   for name, value in fitted.items()}
        self.components_ = components
        self.component_fit_seconds_ = {name: seconds[name] for name in components}
        self.matrix_ = self.components_["buy_again"].matrix_
        self._item_features = item_features(self.matrix_)
        # the content model also knows unbought catalogue items: map its columns onto ours
        self._component_columns = {
            name: None if np.array_equal(model.item_ids, self.item_ids)
            else model.matrix_.columns_of(self.item_ids)
            for name, model in self.components_.items()}
        content_columns = self._component_columns.get("content_based")
        self._content_search = None
        if content_columns is not None:
            # content candidates are searched among its dense items that the hybrid can recommend
            content = self.components_["content_based"]
            self._content_search = content.search_space(
                np.intersect1d(content.dense_columns_, content_columns))

    def batch_size(self) -> int:
        return min(model.batch_size() for model in self.components_.values())

    def score_block(self, rows: np.ndarray) -> ScoreBlock:
        positions, columns, scores = self._scored_candidates(rows, exclude_seen=False)
        return SparseBlock(sparse.csr_matrix((scores, (positions, columns)),
                                             shape=(len(rows), len(self.item_ids))))

    def _scored_candidates(self, rows: np.ndarray, exclude_seen: bool, keep: int | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every candidate pair of the customers at ``rows`` with the ranker's probability; with
        ``keep``, only each customer's ``keep`` best by the ranker's first trees
        (:func:`best_by_first_trees`)."""
        features, positions, columns = self._candidate_features(rows, exclude_seen)
        if not len(features):
            return empty_top()
        ranker = self.rankers_[exclude_seen]
        with threadpool_limits(1, "openmp"):
            if keep is not None:
                kept = best_by_first_trees(ranker, features, positions, keep)
                features, positions, columns = features.take(kept), positions[kept], columns[kept]
            probability = ranker.predict_proba(features)[:, 1]
        return positions, columns, probability.astype(np.float32)

    def _top_items(self, rows, k, exclude_seen):
        positions, columns, scores = self._scored_candidates(rows, exclude_seen,
                                                             max(k, RANKED_CANDIDATES))
        return top_k_csr(sparse.csr_matrix((scores, (positions, columns)),
                                           shape=(len(rows), len(self.item_ids))), k)

    def _recommend_unknown(self, customer_ids: np.ndarray, k: int) -> pd.DataFrame:
        """Customers with no history get the recent best sellers (one list, repeated)."""
        if len(customer_ids) == 0:
            return super()._recommend_unknown(customer_ids, k)
        popularity = self.components_["popularity"]
        best = popularity.order_[:k]
        return pd.DataFrame({
            "customer_id": np.repeat(customer_ids, len(best)),
            "rank": np.tile(np.arange(1, len(best) + 1, dtype=np.int64), len(customer_ids)),
            "product_id": np.tile(self.item_ids[best], len(customer_ids)),
            "score": np.tile(popularity.item_scores_[best].astype("float64"), len(customer_ids)),
        })

    def _component_block(self, name: str, rows: np.ndarray) -> ScoreBlock:
        model = self.components_[name]
        columns = self._component_columns[name]
        if columns is None:
            return model.score_block(rows)
        if name == "content_based":
            block = model.score_block(rows, self._content_search)
        else:
            block = model.score_block(rows)
        return MappedBlock(block, columns, len(model.item_ids))

    def _candidate_features(self, rows: np.ndarray,
                            exclude_seen: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Features of every (customer, candidate item) pair of the customers at ``rows``.

        Returns the features and, for each pair, the customer's position in ``rows`` and the
        item's column (grouped by position, columns ascending).
        """
        weights = self.matrix_.weights[rows]
        last_at = self.matrix_.last_at[rows]  # days since the customer last bought it, + 1
        blocks, tops = {}, {}
        for name in RANKED_COMPONENTS:
            if name in self.components_:
                blocks[name] = self._component_block(name, rows)
                tops[name] = blocks[name].top(self.candidates_per_model)
        repeat = self._component_block("buy_again", rows).top(self.max_repeat_candidates)
        # the union of the top lists, grouped by position, columns ascending (a CSR pattern)
        union = sparse.csr_matrix(
            (np.ones(sum(len(top[0]) for top in [*tops.values(), repeat]), dtype=np.float32),
             (np.concatenate([top[0] for top in [*tops.values(), repeat]]),
              np.concatenate([top[1] for top in [*tops.values(), repeat]]))),
            shape=(len(rows), len(self.item_ids)))
        union.sum_duplicates()
        positions = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(union.indptr))
        pair_columns = union.indices.astype(np.int64)
        seen = sparse_lookup(weights, positions, pair_columns, 0.0) > 0
        if exclude_seen:
            positions, pair_columns, seen = positions[~seen], pair_columns[~seen], seen[~seen]
        features: dict[str, np.ndarray] = {}
        for name, (top_positions, top_columns, top_scores) in tops.items():
            scores = blocks[name].at(positions, pair_columns)
            # a customer's best score of the model: the first of their top list
            best = np.zeros(len(rows), dtype=np.float32)
            first = within_row_rank(top_positions) == 0
            best[top_positions[first]] = top_scores[first]
            pair_best = best[positions]
            features[f"{name}_score"] = np.where(np.isfinite(scores) & (pair_best > 0),
                                                 scores / np.where(pair_best > 0, pair_best, 1), 0)
            ranks = sparse.csr_matrix((within_row_rank(top_positions) + 1.0,
                                       (top_positions, top_columns)), shape=union.shape)
            features[f"{name}_rank"] = sparse_lookup(ranks, positions, pair_columns,
                                                     self.candidates_per_model + 1)
        if not exclude_seen:  # new items have no history with the customer to describe
            features[TIMES_BOUGHT] = sparse_lookup(weights, positions, pair_columns, 0.0)
            ages = sparse_lookup(last_at, positions, pair_columns, 0.0) - 1
            features[DAYS_SINCE_BOUGHT] = np.where(seen, ages, np.nan)
        history = np.diff(weights.indptr)
        features["customer_items"] = history[positions]
        features["customer_purchases"] = np.asarray(weights.sum(axis=1)).ravel()[positions]
        days_since_last = np.full(len(rows), np.inf, dtype=np.float32)
        has_history = history > 0
        days_since_last[has_history] = np.minimum.reduceat(
            last_at.data - 1, last_at.indptr[:-1][has_history])
        features["customer_days_since_last"] = days_since_last[positions]
        for name, values in self._item_features.items():
            features[name] = values[pair_columns]
        return pd.DataFrame(features), positions, pair_columns


def fitted_ranker(features: pd.DataFrame, bought: np.ndarray, random_state: int
                  ) -> HistGradientBoostingClassifier:
    """The blend's classifier fitted on labelled candidates, on one OpenMP thread (module doc).

    A feature missing from every row (days since bought, when no sampled candidate was bought
    before: a tiny shop) cannot be split on; scikit-learn 1.9 fails to bin it ("window shape
    cannot be larger than input array shape"), so it is given a constant, which it bins.
    """
    missing_everywhere = features.columns[features.isna().all()]
    features = features.fillna({column: 0.0 for column in missing_everywhere})
    ranker = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=100,
        l2_regularization=1.0, early_stopping=False, random_state=random_state)
    with threadpool_limits(1, "openmp"):
        return ranker.fit(features, bought)


def best_by_first_trees(ranker: HistGradientBoostingClassifier, features: pd.DataFrame,
                        positions: np.ndarray, keep: int) -> np.ndarray:
    """Indices, ascending, of each customer's ``keep`` best pairs by the sum of the ranker's first
    ``PRUNING_TREES`` trees (all pairs when no customer has more than ``keep``, or the ranker has
    no more trees than that). Ties go to the earlier pair. ``positions`` must be grouped."""
    indices = np.arange(len(positions))
    if len(positions) == 0 or np.bincount(positions).max() <= keep \
            or ranker.n_iter_ <= PRUNING_TREES:
        return indices
    stages = ranker.staged_decision_function(features)
    first_trees = next(itertools.islice(stages, PRUNING_TREES - 1, None))
    stages.close()
    order = np.lexsort((indices, -first_trees, positions))
    return np.sort(order[within_row_rank(positions[order]) < keep])


def item_features(matrix: InteractionMatrix) -> dict[str, np.ndarray]:
    """Per item: buyers, recent (30-day) buyers, share of buyers who bought it more than once."""
    buyers = np.asarray(matrix.binary().sum(axis=0)).ravel()
    repeat = matrix.weights.copy()
    repeat.data = (repeat.data > 1).astype(np.float32)
    recent = matrix.binary()
    recent.data = (matrix.last_at.data <= 31).astype(np.float32)
    return {
        "item_buyers": np.log1p(buyers),
        "item_recent_buyers": np.log1p(np.asarray(recent.sum(axis=0)).ravel()),
        "item_repeat_share": np.asarray(repeat.sum(axis=0)).ravel() / np.maximum(buyers, 1),
    }


def fit_hybrid(order_lines: pd.DataFrame | PurchaseLog, products: pd.DataFrame | None = None,
               window_days: int = 30, events: pd.DataFrame | EventLog | None = None
               ) -> HybridRecommender:
    """Tune the hybrid on the last ``window_days`` of ``order_lines``, then fit it on them all.

    With an event log (``events``), the models learn from events weighted views < carts <
    purchases (see shop_interactions); what customers then bought is still the truth tuned on.
    """
    split = time_split(order_lines, window_days)
    model = HybridRecommender(products)
    model.tune(shop_matrix(order_lines, events, before=split.test_start), split.truth())
    return model.release_fits().fit_matrix(shop_matrix(order_lines, events))
