"""Cross-sell: products frequently bought together in the same basket (association rules).

For an ordered pair (A, B) over all purchase baskets (invoices, guest orders included):
``pair_count`` = baskets with both, ``support`` = pair_count / baskets,
``confidence`` = P(B in basket | A in basket) = pair_count / baskets with A,
``lift`` = confidence / P(B in basket); lift > 1 means A makes B more likely than usual.
"""

from typing import Self

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommenders.interactions import PurchaseLog
from ml.recommenders.similarity import ITEM_CHUNK_SIZE, SIMILAR_ITEM_COLUMNS

CROSS_SELL_COLUMNS = ["product_id", "other_product_id", "support", "confidence", "lift",
                      "pair_count"]
# Each product's partners in the product_cross_sell table, the strongest by lift (a product's
# 200th partner is no offer anyone would make)
CROSS_SELL_PARTNERS = 20


class FrequentlyBoughtTogether:
    """Association rules between products, kept when seen in at least ``min_pair_count`` baskets
    and with lift above ``min_lift``. Rarer pairs are mostly noise: on Online Retail (18,000
    baskets) 10 baskets keep 400,000 ordered pairs over 2,300 products, 5 would keep a million."""

    name = "frequently_bought_together"

    def __init__(self, min_pair_count: int = 10, min_lift: float = 1.0,
                 partners_per_product: int | None = None):
        self.min_pair_count = min_pair_count
        self.min_lift = min_lift
        self.partners_per_product = partners_per_product

    def fit(self, order_lines: pd.DataFrame | PurchaseLog) -> Self:
        """Count pairs over the purchase baskets of ``order_lines`` (a frame, or a PurchaseLog
        left in the warehouse) into :attr:`pairs_`: sorted by product_id, then confidence, lift
        (both descending) and other_product_id. With ``partners_per_product``, each product
        keeps only that many partners, the strongest by lift (ties: the lower other_product_id).
        """
        purchases = PurchaseLog.of(order_lines).baskets()
        # factorize hashes; np.unique would sort millions of order id strings
        basket_rows, baskets = pd.factorize(purchases["order_id"])
        item_columns, item_ids = pd.factorize(purchases["product_id"], sort=True)
        self.item_ids_ = np.asarray(item_ids, dtype=object)
        in_basket = sparse.csr_matrix(
            (np.ones(len(purchases), dtype=np.float32), (basket_rows, item_columns)),
            shape=(len(baskets), len(self.item_ids_)))
        self.pairs_ = self._pairs(in_basket)
        return self

    def _pairs(self, in_basket: sparse.csr_matrix) -> pd.DataFrame:
        n_baskets = in_basket.shape[0]
        item_baskets = np.asarray(in_basket.sum(axis=0), dtype=np.float64).ravel()

        def pair_lift(pair_count, first, other):
            # the same both ways round, to the last bit: the filter keeps a pair and its mirror
            # image, or neither
            return (pair_count.astype(np.float64) * n_baskets
                    / (item_baskets[first] * item_baskets[other]))

        by_item = in_basket.T.tocsr()
        n_items = in_basket.shape[1]
        chunks = [(np.zeros(0, np.int32),) * 2 + (np.zeros(0, np.float32),)]
        # A pair's count and lift are the same both ways round, so each pair is counted once,
        # with the lower item first, and mirrored at the end: half the work (at 42M events the
        # wholesale source's 15,348 products co-occur in 85M such pairs). A chunk of items at a
        # time: the full item x item co-occurrence can be large.
        for start in range(0, n_items, ITEM_CHUNK_SIZE):
            counts = (by_item[start:start + ITEM_CHUNK_SIZE] @ in_basket[:, start:]).tocoo()
            first, other = counts.row + start, counts.col + start
            keep = (counts.data >= self.min_pair_count) & (other > first)
            first, other, pair_count = first[keep], other[keep], counts.data[keep]
            strong = pair_lift(pair_count, first, other) > self.min_lift
            chunks.append((first[strong], other[strong], pair_count[strong]))
        # Kept as item codes until the end: tens of millions of pairs at scale, and the codes
        # sort in product_id order (factorized sorted), strings would cost gigabytes. Each pair
        # both ways round, grouped by product and in other_product_id order, by sparse algebra:
        # a sort of 45M pairs by product and lift took 25 s.
        lower, higher, pair_count = (np.concatenate(parts) for parts in zip(*chunks))
        one_way = sparse.csr_matrix((pair_count, (lower, higher)), shape=(n_items, n_items))
        del lower, higher, pair_count
        both_ways = (one_way + one_way.T).tocsr()
        del one_way
        first = np.repeat(np.arange(n_items, dtype=np.int32), np.diff(both_ways.indptr))
        other, pair_count = both_ways.indices, both_ways.data.astype(np.float64)
        lift = pair_lift(pair_count, first, other)
        if self.partners_per_product is not None:
            strongest = _highest_in_rows(both_ways.indptr, lift, self.partners_per_product)
            first, other, pair_count, lift = (values[strongest]
                                              for values in (first, other, pair_count, lift))
        confidence = pair_count / item_baskets[first]
        order = np.lexsort((other, -lift, -confidence, first))
        return pd.DataFrame({
            "product_id": self.item_ids_[first[order]],
            "other_product_id": self.item_ids_[other[order]],
            "support": pair_count[order] / n_baskets, "confidence": confidence[order],
            "lift": lift[order], "pair_count": pair_count[order].astype(np.int64)})

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most frequent companions, by confidence: product_id, rank,
        similar_product_id, score (= confidence)."""
        if not hasattr(self, "pairs_"):
            raise RuntimeError(
                "FrequentlyBoughtTogether is not fitted: call fit(order_lines) first.")
        wanted = self.pairs_[self.pairs_["product_id"].isin(list(product_ids))]
        ranked = wanted.assign(rank=wanted.groupby("product_id").cumcount() + 1)
        top = ranked[ranked["rank"] <= k]
        renamed = top.rename(columns={"other_product_id": "similar_product_id",
                                      "confidence": "score"})
        return renamed[SIMILAR_ITEM_COLUMNS].reset_index(drop=True)


def _highest_in_rows(indptr: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest ``values`` of each row of a CSR layout, ties to the entry stored
    first (the lower column), row after row."""
    kept = []
    for row in np.flatnonzero(np.diff(indptr) > k):
        start, end = indptr[row], indptr[row + 1]
        kept.append(start + np.argsort(-values[start:end], kind="stable")[:k])
    # rows with k entries or fewer keep them all
    short = np.repeat(np.diff(indptr) <= k, np.diff(indptr))
    return np.sort(np.concatenate([np.flatnonzero(short), *kept]))
