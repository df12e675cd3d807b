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

from ml.recommenders.base import within_row_rank
from ml.recommenders.interactions import require_columns
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

    def fit(self, order_lines: pd.DataFrame) -> Self:
        """Count pairs over the purchase baskets of ``order_lines`` into :attr:`pairs_`: sorted by
        product_id, then confidence, lift (both descending) and other_product_id. With
        ``partners_per_product``, each product keeps only that many partners, the strongest by
        lift (ties: the lower other_product_id)."""
        require_columns(order_lines, ["order_id", "product_id", "is_cancellation"], "order_lines")
        purchases = order_lines.loc[~order_lines["is_cancellation"].astype(bool),
                                    ["order_id", "product_id"]].drop_duplicates()
        # factorize hashes; np.unique would sort millions of order id strings
        basket_rows, baskets = pd.factorize(purchases["order_id"])
        item_columns, item_ids = pd.factorize(purchases["product_id"], sort=True)
        self.item_ids_ = np.asarray(item_ids, dtype=object)
        in_basket = sparse.csc_matrix(
            (np.ones(len(purchases), dtype=np.float32), (basket_rows, item_columns)),
            shape=(len(baskets), len(self.item_ids_)))
        self.pairs_ = self._pairs(in_basket)
        return self

    def _pairs(self, in_basket: sparse.csc_matrix) -> pd.DataFrame:
        n_baskets = in_basket.shape[0]
        item_baskets = np.asarray(in_basket.sum(axis=0)).ravel()
        by_item = in_basket.T.tocsr()
        chunks = [(np.zeros(0, np.int32),) * 2 + (np.zeros(0, np.float32),)]
        # a chunk of items at a time: the full item x item co-occurrence can be large
        for start in range(0, in_basket.shape[1], ITEM_CHUNK_SIZE):
            counts = (by_item[start:start + ITEM_CHUNK_SIZE] @ in_basket).tocoo()
            first = counts.row + start
            keep = (counts.data >= self.min_pair_count) & (first != counts.col)
            first, other, pair_count = first[keep], counts.col[keep], counts.data[keep]
            lift = pair_count / item_baskets[first] / (item_baskets[other] / n_baskets)
            strong = lift > self.min_lift
            chunks.append((first[strong], other[strong], pair_count[strong]))
        # kept as item codes until the end: tens of millions of pairs at scale, and the codes
        # sort in product_id order (factorized sorted), strings would cost gigabytes
        first, other, pair_count = (np.concatenate(parts) for parts in zip(*chunks))
        confidence = pair_count / item_baskets[first]
        lift = confidence / (item_baskets[other] / n_baskets)
        if self.partners_per_product is not None:
            by_lift = np.lexsort((other, -lift, first))
            strongest = by_lift[within_row_rank(first[by_lift]) < self.partners_per_product]
            first, other, pair_count = first[strongest], other[strongest], pair_count[strongest]
            confidence, lift = confidence[strongest], lift[strongest]
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
