"""Offline evaluation of recommenders: a time-based split and ranking metrics, the same for all.

The split mimics serving: fit on everything before a cut-off, then check what customers bought in
the following window. Only customers who bought both before and in the window are judged (a
recommender cannot personalise for a stranger). Two variants:

- ``all``: every product bought in the test window counts, repeats included;
- ``new``: each customer's training products are removed from both the truth and the
  recommendations, so only discovery counts (customers left with no new product are dropped).

Metrics at each K (recommendation lists cut at K, averaged over judged customers):

- recall = hits / min(K, relevant), so a perfect list scores 1 even when relevant > K;
- NDCG with binary relevance, ideal DCG over min(K, relevant) hits;
- hit rate = share of customers with at least one hit;
- catalogue coverage = distinct recommended products / products in the training interactions;
- novelty = mean ``-log2(share of training customers who bought the product)`` over recommended
  products (a product no training customer bought counts as bought by one).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.recommenders.interactions import InteractionMatrix, PurchaseLog, require_columns

DEFAULT_WINDOW_DAYS = 30
DEFAULT_K_VALUES = (10, 20)
METRIC_NAMES = ("recall", "ndcg", "hit_rate", "coverage", "novelty")


@dataclass(frozen=True)
class TimeSplit:
    """Order lines before ``test_start`` (train) and in ``[test_start, test_end)`` (test).

    The lines are cut from ``order_lines`` when asked for, not held: at tens of millions of lines
    a copy of the training lines is gigabytes, and the recommenders need only the cut-off and the
    truth (validation_split then cuts the same lines one window earlier). ``order_lines`` may be
    a PurchaseLog left in the warehouse, which the truth is grouped in; ``train_lines`` and
    ``test_lines`` need a frame."""

    order_lines: pd.DataFrame | PurchaseLog
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def train_lines(self) -> pd.DataFrame:
        return self.order_lines[self._ordered_at() < self.test_start]

    @property
    def test_lines(self) -> pd.DataFrame:
        ordered_at = self._ordered_at()
        return self.order_lines[(ordered_at >= self.test_start) & (ordered_at < self.test_end)]

    def truth(self) -> pd.DataFrame:
        """customer_id, product_id bought in the test window by customers who bought before it,
        sorted."""
        purchases = PurchaseLog.of(self.order_lines)
        test = purchases.interactions(before=self.test_end, since=self.test_start)
        judged = test[test["customer_id"].isin(purchases.customers(before=self.test_start))]
        return judged[["customer_id", "product_id"]].sort_values(
            ["customer_id", "product_id"], ignore_index=True)

    def _ordered_at(self) -> pd.Series:
        return pd.to_datetime(self.order_lines["ordered_at"])


def time_split(order_lines: pd.DataFrame | PurchaseLog, window_days: int = DEFAULT_WINDOW_DAYS,
               end: pd.Timestamp | None = None) -> TimeSplit:
    """Split at ``end - window_days``; ``end`` defaults to midnight after the last order's day."""
    if isinstance(order_lines, pd.DataFrame):
        require_columns(order_lines, ["ordered_at"], "order_lines")
    if end is None:
        end = PurchaseLog.of(order_lines).last_ordered_at.normalize() + pd.Timedelta(days=1)
    return TimeSplit(order_lines, test_start=end - pd.Timedelta(days=window_days), test_end=end)


def validation_split(split: TimeSplit, window_days: int = DEFAULT_WINDOW_DAYS) -> TimeSplit:
    """The same split one window earlier, inside the training data: what models are tuned on."""
    return time_split(split.order_lines, window_days, end=split.test_start)


def drop_known_pairs(frame: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` whose (customer_id, product_id) is not in ``known``."""
    keys = pd.MultiIndex.from_frame(frame[["customer_id", "product_id"]])
    # only the known pairs of frame's customers can match (a sample's, out of a whole shop's)
    known = known[known["customer_id"].isin(frame["customer_id"].unique())]
    known_keys = pd.MultiIndex.from_frame(known[["customer_id", "product_id"]])
    return frame[~keys.isin(known_keys)]


def rerank(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Ranks 1..n within each customer, keeping the existing order (after rows were removed)."""
    ordered = recommendations.sort_values(["customer_id", "rank"], kind="stable")
    return ordered.assign(rank=ordered.groupby("customer_id").cumcount() + 1)


def ranking_metrics(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int,
                    catalogue_size: int, item_buyers: pd.Series,
                    n_customers: int) -> dict[str, float]:
    """Recall, NDCG, hit rate, coverage and novelty at ``k`` (definitions in the module docstring).

    ``recommendations``: customer_id, rank, product_id; ``truth``: customer_id, product_id;
    ``item_buyers``: number of training customers who bought each product, indexed by product,
    out of ``n_customers`` training customers.
    Customers in ``truth`` without recommendations score zero; others are ignored.
    """
    require_columns(recommendations, ["customer_id", "rank", "product_id"], "recommendations")
    require_columns(truth, ["customer_id", "product_id"], "truth")
    customers = pd.Index(truth["customer_id"].unique())
    if customers.empty:
        return dict.fromkeys(METRIC_NAMES, float("nan"))
    top = recommendations[(recommendations["rank"] <= k)
                          & recommendations["customer_id"].isin(customers)]
    hits = top.merge(truth, on=["customer_id", "product_id"], how="inner")
    relevant = truth.groupby("customer_id").size().reindex(customers)
    ideal_hits = np.minimum(relevant.to_numpy(), k)
    hit_count = hits.groupby("customer_id").size().reindex(customers, fill_value=0).to_numpy()
    gains = 1.0 / np.log2(hits["rank"].to_numpy() + 1.0)
    dcg = pd.Series(gains).groupby(hits["customer_id"].to_numpy()).sum()
    dcg = dcg.reindex(customers, fill_value=0.0).to_numpy()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_dcg = np.cumsum(discounts)[ideal_hits - 1]
    shares = item_buyers.reindex(top["product_id"]).fillna(0).clip(lower=1) / n_customers
    return {
        "recall": float(np.mean(hit_count / ideal_hits)),
        "ndcg": float(np.mean(dcg / ideal_dcg)),
        "hit_rate": float(np.mean(hit_count > 0)),
        "coverage": top["product_id"].nunique() / catalogue_size,
        "novelty": float(np.mean(-np.log2(shares.to_numpy()))) if len(top) else float("nan"),
    }


@dataclass(frozen=True)
class TrainingSummary:
    """What the metrics need from the training interactions, computed once for every model."""

    seen: pd.DataFrame  # customer_id, product_id: the judged customers' training pairs
    catalogue_size: int
    item_buyers: pd.Series  # training customers per product
    n_customers: int

    @classmethod
    def of(cls, train_interactions: pd.DataFrame | InteractionMatrix,
           judged=None) -> "TrainingSummary":
        """The summary of ``train_interactions`` (a frame, or its matrix), keeping the pairs of
        only the ``judged`` customers (default: all): the metrics look up no others. At 42M
        events (29.2M training pairs) it took 0.6 s from the matrix, and 20-39 s from the
        frame, grouping its string ids."""
        if isinstance(train_interactions, InteractionMatrix):
            return cls._of_matrix(train_interactions, judged)
        require_columns(train_interactions, ["customer_id", "product_id"], "train_interactions")
        pairs = train_interactions[["customer_id", "product_id"]]
        seen = pairs if judged is None else pairs[pairs["customer_id"].isin(judged)]
        return cls(seen=seen, catalogue_size=pairs["product_id"].nunique(),
                   item_buyers=pairs.groupby("product_id")["customer_id"].nunique(),
                   n_customers=pairs["customer_id"].nunique())

    @classmethod
    def _of_matrix(cls, matrix: InteractionMatrix, judged) -> "TrainingSummary":
        rows = (np.arange(len(matrix.customer_ids)) if judged is None
                else matrix.rows_of(np.asarray(judged, dtype=object)))
        rows = rows[rows >= 0]
        pairs = matrix.weights[rows].tocoo()  # one entry per interacted pair
        seen = pd.DataFrame({"customer_id": matrix.customer_ids[rows[pairs.row]],
                             "product_id": matrix.item_ids[pairs.col]})
        buyers = np.bincount(matrix.weights.indices, minlength=len(matrix.item_ids))
        return cls(seen=seen, catalogue_size=len(matrix.item_ids),
                   item_buyers=pd.Series(buyers, index=matrix.item_ids),
                   n_customers=len(matrix.customer_ids))


def evaluate_recommendations(recommend, train_interactions: pd.DataFrame | TrainingSummary,
                             truth: pd.DataFrame, k_values: tuple[int, ...] = DEFAULT_K_VALUES,
                             recommends_new_items: bool = True) -> pd.DataFrame:
    """Metrics of one model for both variants and every K: variant, k, recall, ndcg, ... .

    ``recommend(customer_ids, k, exclude_seen)`` returns recommendations; ``train_interactions``
    are what it learned from (or their :class:`TrainingSummary`, kept for at least ``truth``'s
    customers, to evaluate several models on them). A model that only repeats past purchases
    (``recommends_new_items=False``) gets NaN in the ``new`` variant.
    """
    customers = truth["customer_id"].unique()
    training = (train_interactions if isinstance(train_interactions, TrainingSummary)
                else TrainingSummary.of(train_interactions, judged=customers))
    catalogue_size, item_buyers = training.catalogue_size, training.item_buyers
    n_customers, seen = training.n_customers, training.seen
    variants = {"all": (recommend(customers, max(k_values), False), truth)}
    new_truth = drop_known_pairs(truth, seen)
    if recommends_new_items:
        new_recommendations = rerank(drop_known_pairs(
            recommend(new_truth["customer_id"].unique(), max(k_values), True), seen))
        variants["new"] = (new_recommendations, new_truth)
    rows = []
    for variant, (recommendations, variant_truth) in variants.items():
        for k in k_values:
            metrics = ranking_metrics(recommendations, variant_truth, k, catalogue_size,
                                      item_buyers, n_customers)
            rows.append({"variant": variant, "k": k,
                         "customers": variant_truth["customer_id"].nunique(), **metrics})
    if not recommends_new_items:
        for k in k_values:
            rows.append({"variant": "new", "k": k, "customers": new_truth["customer_id"].nunique(),
                         **dict.fromkeys(METRIC_NAMES, float("nan"))})
    return pd.DataFrame(rows)
