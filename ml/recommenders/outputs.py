"""Builders of the warehouse's recommendation tables, each a plain function from frames to a frame.

- ``customer_recommendations``: customer_id, rank, product_id, score, model_name, reason
  (served beside the recommenders' offline evaluation: ``evaluate_and_recommend``)
- ``product_similar_items``: product_id, rank, similar_product_id, score
- ``product_cross_sell``: product_id, other_product_id, support, confidence, lift, pair_count
"""

import numpy as np
import pandas as pd
from scipy import sparse

from ml.evaluate_recommenders import evaluate_hybrid
from ml.evaluation import time_split
from ml.recommenders.base import Recommender, sparse_lookup, within_row_rank
from ml.recommenders.content_based import ContentBasedRecommender
from ml.recommenders.cross_sell import CROSS_SELL_COLUMNS, CROSS_SELL_PARTNERS, \
    FrequentlyBoughtTogether
from ml.recommenders.interactions import EventLog, InteractionMatrix, PurchaseLog, \
    object_index, require_columns, shop_log
from ml.recommenders.item_knn import ItemKNNRecommender
from ml.recommenders.similarity import SIMILAR_ITEM_COLUMNS

CUSTOMER_RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score", "model_name",
                                   "reason"]
REASON_REPEAT = "you bought this before"
REASON_POPULAR = "popular now"
REASON_COLLABORATIVE = "bought by customers with similar purchases"
REASON_CHUNK_ROWS = 100_000
# A binary search among all links costs about as much as merging this many stored entries
LOOKUP_STEPS = 5


def explain(recommendations: pd.DataFrame, interactions: pd.DataFrame | InteractionMatrix,
            companions: pd.DataFrame, similar: pd.DataFrame,
            products: pd.DataFrame | None = None) -> pd.Series:
    """A reason for each recommendation, the most specific that holds, in this order:

    "you bought this before" (a pair of ``interactions``: customer_id, product_id, or their
    matrix); "bought together with X" (X a past purchase of the customer, the pair in
    ``companions``: product_id, other_product_id, lift); "similar to Y" (Y a past purchase,
    the pair in ``similar``: product_id, similar_product_id, score); "bought by customers with
    similar purchases" for other customers with a history; "popular now" for customers without one.
    Among several X (or Y) the strongest link wins, of equal ones the lowest product_id (so the
    reasons do not depend on the order of the rows). X and Y are named by their description from
    ``products`` when it has one.
    """
    bought_items = (interactions.item_ids if isinstance(interactions, InteractionMatrix)
                    else interactions["product_id"])
    items = object_index(np.sort(pd.unique(pd.concat([
        pd.Series(column, dtype=object) for column in [
            recommendations["product_id"], bought_items, companions["product_id"],
            companions["other_product_id"], similar["product_id"],
            similar["similar_product_id"]]]))))
    customers, history = purchase_history(interactions, recommendations["customer_id"], items)
    recommended_customers = customers.get_indexer(recommendations["customer_id"])
    recommended_items = items.get_indexer(recommendations["product_id"])
    names = product_names(products)
    reasons = np.where(np.diff(history.indptr)[recommended_customers] > 0,
                       REASON_COLLABORATIVE, REASON_POPULAR).astype(object)
    for pairs, target, strength, template in [
            (similar, "similar_product_id", "score", "similar to {}"),
            (companions, "other_product_id", "lift", "bought together with {}")]:
        # links[i, h]: how strongly recommended item i is tied to product h
        links = sparse.csr_matrix(
            (pairs[strength].to_numpy(dtype=np.float32),
             (items.get_indexer(pairs[target]), items.get_indexer(pairs["product_id"]))),
            shape=(len(items), len(items)))
        for start in range(0, len(recommendations), REASON_CHUNK_ROWS):
            chunk = slice(start, start + REASON_CHUNK_ROWS)
            rows, products, links_to_past = linked_past(
                links, recommended_items[chunk], history[recommended_customers[chunk]])
            # the strongest link per recommendation; of equal ones, the lowest product column
            order = np.lexsort((products, -links_to_past, rows))
            rows, products = rows[order], products[order]
            strongest = within_row_rank(rows) == 0
            linked_ids = items[products[strongest]]
            linked_names = names.reindex(linked_ids).fillna(pd.Series(linked_ids, index=linked_ids))
            reasons[start + rows[strongest]] = [template.format(name) for name in linked_names]
    repeat = np.asarray(history[recommended_customers, recommended_items]).ravel() > 0
    reasons[repeat] = REASON_REPEAT
    return pd.Series(reasons, index=recommendations.index, dtype=object)


def linked_past(links: sparse.csr_matrix, items: np.ndarray, past: sparse.csr_matrix
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (position, past product, link) triples where row ``items[position]`` of ``links``
    holds a positive link to a product stored in row ``position`` of ``past``.

    Either each past product is looked up among all links, or each item's row of links is merged
    with its row of the past (two sorted rows), whichever takes fewer steps, a lookup counting as
    ``LOOKUP_STEPS``. The served recommendations of the 42M shop's event source have 1.1 past
    products each against 467 links to similar items (all their reasons took 5.5 s by lookups,
    11.1 s by merges), the wholesale source's 68 against 88 (17.9 s and 10.1 s)."""
    history_entries = np.diff(past.indptr)
    link_entries = np.diff(links.indptr)[items].sum()
    if link_entries + history_entries.sum() <= LOOKUP_STEPS * history_entries.sum():
        past = past.copy()
        past.data = np.ones_like(past.data)
        linked = links[items].multiply(past).tocoo()
        strong = linked.data > 0
        return linked.row[strong], linked.col[strong], linked.data[strong]
    rows = np.repeat(np.arange(len(items)), history_entries)
    strengths = sparse_lookup(links, np.repeat(items, history_entries), past.indices)
    strong = strengths > 0
    return rows[strong], past.indices[strong], strengths[strong]


def purchase_history(interactions: pd.DataFrame | InteractionMatrix, customer_ids: pd.Series,
                     items: pd.Index) -> tuple[pd.Index, sparse.csr_matrix]:
    """The customers with a purchase in ``interactions``, then those of ``customer_ids`` without
    one, and who bought which of ``items`` (a customers x items matrix)."""
    if isinstance(interactions, InteractionMatrix):
        buyers, bought = object_index(interactions.customer_ids), interactions.binary()
        # both id lists sorted: each row's columns stay in order
        bought = sparse.csr_matrix(
            (bought.data, items.get_indexer(interactions.item_ids)[bought.indices],
             bought.indptr), shape=(len(buyers), len(items)))
    else:
        buyers = object_index(pd.unique(pd.Series(interactions["customer_id"], dtype=object)))
        bought = sparse.csr_matrix(
            (np.ones(len(interactions), dtype=np.float32),
             (buyers.get_indexer(interactions["customer_id"]),
              items.get_indexer(interactions["product_id"]))),
            shape=(len(buyers), len(items)))
    others = pd.unique(pd.Series(customer_ids, dtype=object))
    others = others[buyers.get_indexer(others) < 0]
    customers = object_index(np.concatenate([buyers.to_numpy(), others]))
    padded = sparse.csr_matrix(
        (bought.data, bought.indices,
         np.concatenate([bought.indptr, np.full(len(others), bought.indptr[-1])])),
        shape=(len(customers), len(items)))
    return customers, padded


def product_names(products: pd.DataFrame | None) -> pd.Series:
    """Description by product_id (empty when there is no products frame)."""
    if products is None:
        return pd.Series(dtype=object)
    require_columns(products, ["product_id", "description"], "products")
    named = products.dropna(subset=["description"]).drop_duplicates("product_id")
    return named.set_index("product_id")["description"]


def customer_recommendations(model: Recommender, customer_ids, k: int = 10,
                             interactions: pd.DataFrame | InteractionMatrix | None = None,
                             companions: pd.DataFrame | None = None,
                             similar: pd.DataFrame | None = None,
                             products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``customer_recommendations`` table for a fitted model: top-k with model name and reason.

    Without ``interactions`` every reason is "popular now"; ``companions`` and ``similar``
    (cross-sell pairs and similar items) make reasons specific.
    """
    return explained(model.recommend(customer_ids, k), model.name, interactions, companions,
                     similar, products)


def explained(recommendations: pd.DataFrame, model_name: str,
              interactions: pd.DataFrame | InteractionMatrix | None = None,
              companions: pd.DataFrame | None = None, similar: pd.DataFrame | None = None,
              products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``customer_recommendations`` table from a model's top-k (customer_id, rank,
    product_id, score): its rows with the model's name and a reason (see :func:`explain`)."""
    empty_pairs = pd.DataFrame(columns=CROSS_SELL_COLUMNS + ["similar_product_id", "score"])
    reasons = explain(recommendations,
                      interactions if interactions is not None
                      else pd.DataFrame(columns=["customer_id", "product_id"]),
                      companions if companions is not None else empty_pairs,
                      similar if similar is not None else empty_pairs, products)
    return recommendations.assign(model_name=model_name, reason=reasons.to_numpy())[
        CUSTOMER_RECOMMENDATION_COLUMNS]


def product_cross_sell(order_lines: pd.DataFrame | PurchaseLog, min_pair_count: int = 10,
                       min_lift: float = 1.0, partners_per_product: int | None = None
                       ) -> pd.DataFrame:
    """The ``product_cross_sell`` table: association rules with lift above ``min_lift`` seen in at
    least ``min_pair_count`` baskets, at most ``partners_per_product`` per product (the strongest
    by lift), sorted by product_id, lift (descending) and other_product_id."""
    pairs = FrequentlyBoughtTogether(min_pair_count, min_lift,
                                     partners_per_product).fit(order_lines).pairs_
    return pairs.sort_values(["product_id", "lift", "other_product_id"],
                             ascending=[True, False, True], kind="stable", ignore_index=True)


def product_similar_items(order_lines: pd.DataFrame | PurchaseLog, products: pd.DataFrame,
                          k: int = 10) -> pd.DataFrame:
    """The ``product_similar_items`` table for every catalogue product.

    Products with purchases get their item-kNN neighbours (bought by the same customers); products
    nobody bought yet, or whose neighbours are too few, are completed from the content-based model
    (description, category, brand), so a new product has similar items from day one.
    """
    require_columns(products, ["product_id"], "products")
    interactions = PurchaseLog.of(order_lines).interactions()
    catalogue = np.asarray(products["product_id"].drop_duplicates(), dtype=object)
    collaborative = ItemKNNRecommender().fit(interactions).similar_items(catalogue, k)
    content = ContentBasedRecommender(products).fit(interactions).similar_items(catalogue, 2 * k)
    combined = pd.concat([collaborative.assign(source=0), content.assign(source=1)])
    combined = (combined.drop_duplicates(["product_id", "similar_product_id"])
                .sort_values(["product_id", "source", "rank"], kind="stable"))
    combined["rank"] = combined.groupby("product_id").cumcount() + 1
    return combined[combined["rank"] <= k][SIMILAR_ITEM_COLUMNS].reset_index(drop=True)


def evaluate_and_recommend(order_lines: pd.DataFrame | PurchaseLog, products: pd.DataFrame,
                           k: int = 10,
                           events: pd.DataFrame | EventLog | None = None,
                           companions: pd.DataFrame | None = None
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The offline evaluation of every recommender on the last 30 days (the metrics of
    ml.evaluate_recommenders.evaluate) and the served ``customer_recommendations``, in one pass.

    Serving is the hybrid tuned on the last 30 days and fitted on all purchases (or, with an
    event log, on the weighted events), for every customer with a purchase, with reasons. Its
    tuning needs the components fitted on everything before the last 30 days, which is exactly
    the hybrid the evaluation has just evaluated: that hybrid learns its blend again on the last
    30 days and is refitted on all the data, so the components are fitted three times (tuning
    and test fits of the evaluation, serving's fit), not four. At 42M events a fit of every
    component takes minutes (BENCHMARKS.md, issue 6).

    "Bought together with X" names a pair of ``companions``, the shop's ``product_cross_sell``
    rows (computed here when not given), so every such reason can be looked up in that table.
    """
    metrics, model = evaluate_hybrid(order_lines, products, events=events)
    model.learn_blend(time_split(order_lines).truth())
    log = shop_log(order_lines, events)
    model.release_fits().fit_matrix(log.matrix())
    # who bought what: without an event log, the matrix the model has just learnt from (grouping
    # the wholesale source's 22.6M lines again took 18 s at 42M events)
    purchases = (model.matrix_ if isinstance(log, PurchaseLog)
                 else PurchaseLog.of(order_lines).matrix())
    similar = model.components_["item_knn"].similar_items(model.item_ids, k)
    recommendations = model.recommend(purchases.customer_ids, k)
    model_name = model.name
    # the fitted components are gigabytes at scale, and the reasons need none of them
    del model
    if companions is None:
        companions = product_cross_sell(order_lines, partners_per_product=CROSS_SELL_PARTNERS)
    return metrics, explained(recommendations, model_name, purchases, companions, similar,
                              products)
