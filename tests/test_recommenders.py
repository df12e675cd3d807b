import gc
import importlib
import sys
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from sklearn.ensemble import HistGradientBoostingClassifier

from ml.evaluate_recommenders import SINGLE_MODEL_ORDER
from ml.evaluation import evaluate_recommendations, time_split, validation_split
from ml.recommenders.als import ALSRecommender
from ml.recommenders.buy_again import BuyAgainRecommender
from ml.recommenders.content_based import ContentBasedRecommender
from ml.recommenders.cross_sell import FrequentlyBoughtTogether
from ml.recommenders.ease import EASERecommender
from ml.recommenders.hybrid import PRUNING_TREES, HybridRecommender, best_by_first_trees, \
    fit_hybrid, fitted_ranker
from ml.recommenders.interactions import (EventLog, InteractionMatrix, PurchaseLog,
                                          event_interactions, purchase_interactions,
                                          shop_interactions)
from ml.recommenders.item_knn import ItemKNNRecommender
from ml.recommenders.outputs import REASON_POPULAR, REASON_REPEAT, customer_recommendations, \
    evaluate_and_recommend, explained, product_cross_sell, product_similar_items
from ml.recommenders.popularity import PopularityRecommender
from ml.recommenders import base as ml_base, cross_sell

sys.path.insert(0, str(Path(__file__).parent))
from reference_data import uci_order_lines, uci_products  # noqa: E402

START = pd.Timestamp("2024-01-01")


def order_lines(baskets: list[tuple[str, list[str]]], days_apart: float = 1.0) -> pd.DataFrame:
    """One invoice per (customer, products) basket, ``days_apart`` days after the previous one."""
    rows = [{"customer_id": customer, "order_id": f"o{number}", "product_id": product,
             "ordered_at": START + pd.Timedelta(days=number * days_apart)}
            for number, (customer, products) in enumerate(baskets) for product in products]
    return pd.DataFrame(rows).assign(quantity=1, unit_price=1.0, line_amount=1.0,
                                     is_cancellation=False)


def grouped_shop(n_customers: int = 120, seed: int = 0) -> pd.DataFrame:
    """Customers in three taste groups of ten products each, with a favourite they rebuy often.

    Group g's customers buy products ``g0..g9`` (plus, rarely, anything), 2 to 8 invoices each,
    over 120 days; the planted structure is what the models must find.
    """
    random = np.random.default_rng(seed)
    groups = ["x", "y", "z"]
    rows = []
    for number in range(n_customers):
        group = groups[number % 3]
        favourite = f"{group}{random.integers(10)}"
        for invoice in range(random.integers(2, 9)):
            day = float(random.uniform(0, 120))
            products = {favourite} | {f"{group}{i}" for i in random.choice(10, 3, replace=False)}
            if random.random() < 0.2:
                products.add(f"{random.choice(groups)}{random.integers(10)}")
            rows += [{"customer_id": f"c{number}", "order_id": f"c{number}-{invoice}",
                      "product_id": product, "ordered_at": START + pd.Timedelta(days=day)}
                     for product in sorted(products)]
    return pd.DataFrame(rows).assign(quantity=1, unit_price=1.0, line_amount=1.0,
                                     is_cancellation=False)


def grouped_products() -> pd.DataFrame:
    return pd.DataFrame({
        "product_id": [f"{group}{i}" for group in "xyz" for i in range(10)] + ["x-new"],
        "description": [f"{name} item {i}" for name in ("mug", "candle", "poster")
                        for i in range(10)] + ["mug item new"],
        "category": [name for name in ("kitchen", "home.light", "wall") for _ in range(10)]
        + ["kitchen"],
        "brand": None, "unit_price": 1.0})


def top_products(recommendations: pd.DataFrame, customer: str) -> list[str]:
    return list(recommendations[recommendations["customer_id"] == customer]
                .sort_values("rank")["product_id"])


# interactions

def test_purchase_interactions_count_distinct_invoices_and_skip_cancellations_and_guests():
    lines = order_lines([("c1", ["a", "a", "b"]), ("c1", ["a"]), (None, ["a"])])
    cancelled = lines.iloc[[0]].assign(order_id="Co9", is_cancellation=True, quantity=-1)
    interactions = purchase_interactions(pd.concat([lines, cancelled]))
    assert interactions[["customer_id", "product_id", "weight"]].to_dict("records") == [
        {"customer_id": "c1", "product_id": "a", "weight": 2.0},
        {"customer_id": "c1", "product_id": "b", "weight": 1.0}]
    assert interactions["last_at"].iloc[0] == START + pd.Timedelta(days=1)


def activity(rows):
    """fct_customer_product_activity rows from (customer, product, day offset, views, carts,
    purchases)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "day", "views", "carts",
                                        "purchases"])
    frame["activity_date"] = START.floor("D") + pd.to_timedelta(frame.pop("day"), unit="D")
    frame["removes_from_cart"] = 0
    frame["last_event_at"] = frame["activity_date"] + pd.Timedelta(hours=12)
    return frame


def test_event_interactions_weigh_purchases_over_carts_over_views():
    events = activity([("c1", "a", 0, 1, 0, 0), ("c1", "b", 0, 1, 1, 0),
                       ("c1", "c", 0, 1, 1, 1)])
    weights = event_interactions(events).set_index("product_id")["weight"]
    assert weights["a"] < weights["b"] < weights["c"]
    assert weights["c"] == 1 + 3 + 10
    with pytest.raises(ValueError, match="unknown event type"):
        event_interactions(events, {"click": 1.0})


def test_a_shop_with_an_event_log_learns_from_its_events_before_the_cut_off():
    lines = order_lines([("c1", ["a"])])
    events = activity([("c1", "a", 0, 0, 0, 1), ("c1", "b", 2, 1, 0, 0), ("c2", "b", 9, 1, 0, 0),
                       ("c1", "a", 5, 1, 0, 0)])
    # the cut-off falls inside day 5: that day is left out, not peeked into
    learned = shop_interactions(lines, events, before=START.floor("D") + pd.Timedelta(days=5,
                                                                                      hours=13))
    assert learned[["customer_id", "product_id", "weight"]].to_dict("records") == [
        {"customer_id": "c1", "product_id": "a", "weight": 10.0},
        {"customer_id": "c1", "product_id": "b", "weight": 1.0}]
    assert shop_interactions(lines, events.iloc[:0]).equals(purchase_interactions(lines))


def test_duckdb_sums_an_event_log_into_the_same_interactions_as_pandas():
    import duckdb

    rng = np.random.default_rng(0)
    events = activity([(f"c{rng.integers(30)}", f"p{rng.integers(40)}", int(rng.integers(20)),
                        *rng.integers(0, 3, size=3)) for _ in range(500)])
    events.loc[::7, "removes_from_cart"] = 1
    events.loc[::11, ["views", "carts", "purchases"]] = 0  # a removal alone: no interaction
    events.loc[5, "customer_id"] = None
    events.loc[[8, 9], "customer_id"] = ["c:é", "c:z"]
    connection = duckdb.connect()
    connection.register("activity", events)
    in_duckdb = EventLog(connection.table("activity"))
    assert len(in_duckdb) == len(events)
    for before in [None, START + pd.Timedelta(days=9, hours=6)]:
        expected = shop_interactions(order_lines([]), events, before)
        summed = in_duckdb.interactions(before)  # in no particular order
        assert len(expected) and summed.dtypes.to_dict() == expected.dtypes.to_dict()
        pd.testing.assert_frame_equal(
            summed.sort_values(["customer_id", "product_id"], ignore_index=True), expected)
        expected_matrix = InteractionMatrix.from_frame(expected)
        assert_same_matrix(InteractionMatrix.from_frame(summed), expected_matrix)
        # coded by DuckDB, ids sorted as Python sorts them ("c:é" after "c:z")
        assert_same_matrix(in_duckdb.matrix(before), expected_matrix)


def assert_same_matrix(got: InteractionMatrix, expected: InteractionMatrix) -> None:
    np.testing.assert_array_equal(got.customer_ids, expected.customer_ids)
    np.testing.assert_array_equal(got.item_ids, expected.item_ids)
    assert got.reference_time == expected.reference_time
    for name in ["weights", "last_at"]:
        got_values, expected_values = getattr(got, name), getattr(expected, name)
        assert got_values.shape == expected_values.shape and got_values.has_canonical_format
        for part in ["data", "indices", "indptr"]:
            np.testing.assert_array_equal(getattr(got_values, part), getattr(expected_values, part))


def dirty_shop(n_customers: int = 60) -> pd.DataFrame:
    """grouped_shop with a repeated line, guest orders and a cancellation, ordered to the second
    (as the warehouse's microseconds hold them)."""
    lines = grouped_shop(n_customers)
    lines["ordered_at"] = lines["ordered_at"].dt.floor("s")
    guests = lines.iloc[:40].assign(customer_id=None, order_id=lambda f: "g" + f["order_id"])
    cancelled = lines.iloc[[3]].assign(order_id="Cx", is_cancellation=True, quantity=-1)
    return pd.concat([lines, lines.iloc[[5]], guests, cancelled], ignore_index=True)


def test_duckdb_groups_order_lines_as_pandas_does():
    import duckdb

    lines = dirty_shop()
    connection = duckdb.connect()
    connection.register("lines", lines)
    in_duckdb, in_pandas = PurchaseLog(connection.table("lines")), PurchaseLog(lines)
    assert (in_duckdb.first_ordered_at, in_duckdb.customer_count, in_duckdb.product_count) == (
        lines["ordered_at"].min(), lines["customer_id"].nunique(), 30)
    assert (in_pandas.first_ordered_at, in_pandas.customer_count, in_pandas.product_count) == (
        in_duckdb.first_ordered_at, in_duckdb.customer_count, in_duckdb.product_count)
    for before in [None, START + pd.Timedelta(days=60, hours=6)]:
        expected = purchase_interactions(lines, before)
        summed = in_duckdb.interactions(before)  # in no particular order
        assert summed.dtypes.to_dict() == expected.dtypes.to_dict()
        pd.testing.assert_frame_equal(
            summed.sort_values(["customer_id", "product_id"], ignore_index=True), expected)
        assert_same_matrix(in_duckdb.matrix(before), InteractionMatrix.from_frame(expected))
    with pytest.raises(ValueError, match="interactions is empty"):
        PurchaseLog(connection.table("lines").filter("customer_id is null")).matrix()
    with pytest.raises(ValueError, match="missing customer_id or product_id"):
        PurchaseLog(connection.sql("select * replace (case when customer_id = 'c0' then null "
                                   "else product_id end as product_id) from lines")).matrix()
    key = ["order_id", "product_id"]
    pd.testing.assert_frame_equal(
        in_duckdb.baskets().sort_values(key, ignore_index=True),
        in_pandas.baskets().sort_values(key, ignore_index=True))
    pd.testing.assert_frame_equal(FrequentlyBoughtTogether(min_pair_count=2).fit(in_duckdb).pairs_,
                                  FrequentlyBoughtTogether(min_pair_count=2).fit(lines).pairs_)


def test_a_matrix_keeps_each_pair_at_its_place_whatever_order_the_rows_come_in():
    interactions = purchase_interactions(grouped_shop()).sample(frac=1.0, random_state=3)
    matrix = InteractionMatrix.from_frame(interactions)
    rows = matrix.rows_of(interactions["customer_id"].to_numpy(dtype=object))
    columns = matrix.columns_of(interactions["product_id"].to_numpy(dtype=object))
    ages = (matrix.reference_time - interactions["last_at"]).dt.total_seconds() / 86400
    for stored, expected in [(matrix.weights, interactions["weight"]), (matrix.last_at, ages + 1)]:
        assert stored.has_canonical_format and stored.nnz == len(interactions)
        np.testing.assert_allclose(np.asarray(stored[rows, columns]).ravel(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="1 repeated \\(customer_id, product_id\\) pairs"):
        InteractionMatrix.from_frame(pd.concat([interactions, interactions.iloc[[4]]]))


def test_a_matrix_moved_onto_a_catalogue_keeps_every_interaction_at_its_product():
    interactions = purchase_interactions(grouped_shop())
    matrix = InteractionMatrix.from_frame(interactions)
    catalogue = np.sort(np.r_[matrix.item_ids, ["a-never-bought", "zz-never-bought"]])
    moved = matrix.on_items(catalogue)

    def triples(m: InteractionMatrix) -> set[tuple[str, str, float, float]]:
        weights, last_at = m.weights.tocoo(), m.last_at.tocoo()
        assert np.array_equal(weights.col, last_at.col)
        return set(zip(m.customer_ids[weights.row], m.item_ids[weights.col], weights.data,
                       last_at.data))

    assert moved.weights.shape == (len(matrix.customer_ids), len(catalogue))
    assert triples(moved) == triples(matrix)
    assert moved.weights.has_canonical_format
    with pytest.raises(ValueError, match="outside the given item_ids"):
        matrix.on_items(catalogue[1:][catalogue[1:] != matrix.item_ids[0]])


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match="order_lines is missing column.*ordered_at"):
        purchase_interactions(order_lines([("c1", ["a"])]).drop(columns="ordered_at"))


# single models on planted patterns

def test_popularity_ranks_by_recent_distinct_buyers():
    lines = order_lines([("c1", ["old"]), ("c2", ["old"]), ("c3", ["old"]),
                         ("c1", ["new"]), ("c2", ["new"]), ("c3", ["rare"])], days_apart=20)
    recent = PopularityRecommender(window_days=50).fit(purchase_interactions(lines))
    assert top_products(recent.recommend(["c1"], 3), "c1") == ["new", "rare", "old"]
    all_time = PopularityRecommender(window_days=None).fit(purchase_interactions(lines))
    assert top_products(all_time.recommend(["c1"], 3), "c1") == ["old", "new", "rare"]


def test_buy_again_ranks_a_customers_repeat_items_and_nothing_else():
    lines = order_lines([("c1", ["a", "b"]), ("c1", ["a"]), ("c1", ["a", "c"]), ("c2", ["d"])])
    recommended = BuyAgainRecommender().fit(purchase_interactions(lines)).recommend(["c1"], 10)
    assert top_products(recommended, "c1")[0] == "a"
    assert set(top_products(recommended, "c1")) == {"a", "b", "c"}
    assert top_products(recommended, "c1").index("c") < top_products(recommended, "c1").index("b")


def test_item_knn_recovers_co_bought_pairs():
    lines = order_lines([(f"c{i}", ["tea", "cup"]) for i in range(5)]
                        + [(f"d{i}", ["pen", "ink"]) for i in range(5)]
                        + [("e", ["tea", "pen"]), ("new", ["tea"])])
    model = ItemKNNRecommender(neighbours=10).fit(purchase_interactions(lines))
    assert top_products(model.recommend(["new"], 1, exclude_seen=True), "new") == ["cup"]
    similar = model.similar_items(["pen"], 1)
    assert similar["similar_product_id"].tolist() == ["ink"]


@pytest.mark.parametrize("model", [ALSRecommender(factors=4),  # three planted groups
                                   EASERecommender(l2=10), ItemKNNRecommender()],
                         ids=["als", "ease", "item_knn"])
def test_collaborative_models_recommend_from_the_customers_taste_group(model):
    # a newcomer to each group bought two of its products; the other eight should come first
    probes = order_lines([(f"probe-{group}", [f"{group}0", f"{group}1"]) for group in "xyz"])
    interactions = purchase_interactions(pd.concat([grouped_shop(), probes]))
    recommended = model.fit(interactions).recommend([f"probe-{group}" for group in "xyz"], 5,
                                                    exclude_seen=True)
    for group in "xyz":
        assert all(product.startswith(group)
                   for product in top_products(recommended, f"probe-{group}"))


def test_als_is_deterministic():
    interactions = purchase_interactions(grouped_shop())
    first = ALSRecommender(factors=8).fit(interactions).recommend(["c0", "c5"], 5)
    second = ALSRecommender(factors=8).fit(interactions).recommend(["c0", "c5"], 5)
    pd.testing.assert_frame_equal(first, second)


def test_als_factors_do_not_depend_on_the_thread_count():
    # enough customers and items that every thread solves many rows in each sweep
    random = np.random.default_rng(3)
    interactions = pd.DataFrame({
        "customer_id": [f"c{i}" for i in random.integers(0, 3_000, 40_000)],
        "product_id": [f"p{i}" for i in random.zipf(1.5, 40_000) % 500],
        "weight": random.integers(1, 5, 40_000).astype(float),
        "last_at": pd.Timestamp("2024-01-01")}).drop_duplicates(["customer_id", "product_id"])
    fits = [ALSRecommender(factors=16, num_threads=threads).fit(interactions)
            for threads in (1, 2, 4)]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.user_factors_, fits[0].user_factors_)
        np.testing.assert_array_equal(fit.item_factors_, fits[0].item_factors_)


def test_a_ranker_feature_missing_from_every_row_changes_nothing():
    # a tiny shop's sampled candidates can all be new to their customers: no days since bought
    random = np.random.default_rng(0)
    features = pd.DataFrame({"score": random.random(2_000), "rank": random.integers(1, 50, 2_000)})
    bought = features["score"].to_numpy() + random.normal(0, 0.2, 2_000) > 0.8
    with_missing = features.assign(days_since_bought=np.nan)
    probe = pd.DataFrame({"score": [0.1, 0.5, 0.95], "rank": [40, 10, 1]})
    np.testing.assert_array_equal(
        fitted_ranker(with_missing, bought, 0).predict_proba(probe.assign(days_since_bought=3.0)),
        fitted_ranker(features, bought, 0).predict_proba(probe))


def test_als_solves_with_the_conjugate_gradient_steps_it_is_given():
    interactions = purchase_interactions(grouped_shop())
    three_steps = ALSRecommender(factors=8, cg_steps=3).fit(interactions)
    # implicit's own model, with its default of three steps, on the same matrix and settings
    reference = AlternatingLeastSquares(
        factors=three_steps.factors, regularization=three_steps.regularization,
        alpha=three_steps.alpha, iterations=three_steps.iterations,
        random_state=three_steps.random_state, num_threads=three_steps.num_threads)
    reference.fit(three_steps.matrix_.weights, show_progress=False)
    np.testing.assert_array_equal(three_steps.user_factors_, reference.user_factors)
    two_steps = ALSRecommender(factors=8, cg_steps=2).fit(interactions)
    assert not np.array_equal(two_steps.user_factors_, three_steps.user_factors_)


def test_a_warm_start_keeps_the_older_fits_factors_not_the_fit_or_its_matrix():
    # at scale the older fit's matrix is gigabytes, held for nothing beside the new fit
    older = ALSRecommender(factors=4).fit(purchase_interactions(grouped_shop()))
    older_matrix = weakref.ref(older.matrix_.weights)
    warm = ALSRecommender(factors=4).starting_from(older)
    del older
    gc.collect()
    assert older_matrix() is None
    assert warm.fit(purchase_interactions(grouped_shop())).warm_started_


def test_als_started_from_an_older_fit_keeps_known_factors_and_learns_newcomers():
    shop = grouped_shop()
    older = ALSRecommender(factors=4).fit(purchase_interactions(shop[shop["customer_id"] != "c0"]))
    probes = order_lines([(f"probe-{group}", [f"{group}0", f"{group}1"]) for group in "xyz"])
    now = purchase_interactions(pd.concat([shop, probes]))
    warm = ALSRecommender(factors=4, warm_iterations=3).starting_from(older)
    initial_users, initial_items = warm._initial_factors(InteractionMatrix.from_frame(now))
    np.testing.assert_array_equal(initial_items, older.item_factors_)  # the same 30 products
    rows = pd.Index(np.sort(now["customer_id"].unique()))
    np.testing.assert_array_equal(initial_users[rows.get_indexer(["c1", "c2"])],
                                  older.user_factors_[older.matrix_.rows_of(["c1", "c2"])])
    assert np.abs(initial_users[rows.get_indexer(["c0", "probe-x"])]).max() <= 0.01
    # three iterations from the older factors place the newcomers in their taste group
    recommended = warm.fit(now).recommend([f"probe-{group}" for group in "xyz"], 5,
                                          exclude_seen=True)
    assert warm.warm_started_ and warm.warm_start is None
    for group in "xyz":
        assert all(product.startswith(group)
                   for product in top_products(recommended, f"probe-{group}"))


def test_ease_models_only_the_most_popular_items_when_capped():
    interactions = purchase_interactions(grouped_shop())
    model = EASERecommender(max_items=5).fit(interactions)
    recommended = model.recommend(interactions["customer_id"].unique(), 10)
    buyers = interactions.groupby("product_id")["customer_id"].nunique()
    # ties in buyers are broken by product id
    most_popular = buyers.sort_index().sort_values(ascending=False, kind="stable").index[:5]
    assert set(recommended["product_id"]) <= set(most_popular)
    assert recommended.groupby("customer_id").size().max() == 5


def bought_at_random(seed: int, customers: int, products: int, max_share: float
                     ) -> tuple[np.ndarray, pd.DataFrame]:
    """Who bought what (customers x products, each product bought by a random share of
    customers up to ``max_share``), as an array and as interactions."""
    random = np.random.default_rng(seed)
    bought = random.random((customers, products)) < random.random(products) * max_share
    interactions = pd.DataFrame([(f"c{row:03d}", f"p{column:02d}", 1.0, pd.Timestamp("2024-01-01"))
                                 for row, column in zip(*np.nonzero(bought))],
                                columns=["customer_id", "product_id", "weight", "last_at"])
    return bought, interactions


def test_ease_weights_are_the_closed_form_in_c_order():
    # B = I - P / diag(P), P = (X'X + l2 I)^-1: column j divided by P_jj, so B is not symmetric
    # and a transposed B would fail here
    bought, interactions = bought_at_random(5, 400, 60, 0.3)
    model = EASERecommender(l2=20).fit(interactions)
    kept = bought[:, np.any(bought, axis=0)].astype(np.float64)
    precision = np.linalg.inv(kept.T @ kept + 20 * np.eye(kept.shape[1]))
    expected = precision / -np.diag(precision)
    np.fill_diagonal(expected, 0.0)
    assert model.weights_.flags["C_CONTIGUOUS"] and model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-3, atol=1e-6)


def test_ease_scores_long_and_short_histories_alike(monkeypatch):
    # long histories are multiplied by columns, short ones by rows: the same sums, in the same order
    from ml.recommenders import ease

    _, interactions = bought_at_random(6, 300, 40, 0.5)
    model = EASERecommender(l2=20).fit(interactions)
    rows = np.arange(0, model.buyers_.shape[0], 2)
    scores = {}
    for threshold in (0, 10**9):
        monkeypatch.setattr(ease, "BY_COLUMNS_HISTORY", threshold)
        scores[threshold] = model.score_block(rows).values
    np.testing.assert_array_equal(scores[0], scores[10**9])
    np.testing.assert_allclose(scores[0], model.buyers_[rows].toarray() @ model.weights_,
                               rtol=1e-5, atol=1e-6)


def test_ease_fitted_from_item_knns_counts_is_ease_fitted_alone(monkeypatch):
    from ml.recommenders import similarity

    monkeypatch.setattr(similarity, "ITEM_CHUNK_SIZE", 7)  # the counts come from several blocks
    matrix = InteractionMatrix.from_frame(purchase_interactions(grouped_shop()))
    alone = EASERecommender(l2=20, max_items=12).fit_matrix(matrix)
    paired = EASERecommender(l2=20, max_items=12)
    columns = paired.modelled_columns(matrix)
    gram = ItemKNNRecommender().fit_counting_gram(matrix, columns)
    bought = matrix.binary()[:, columns].toarray()
    np.testing.assert_array_equal(gram, bought.T @ bought)
    paired.fit_with_gram(matrix, columns, gram)
    np.testing.assert_array_equal(paired.modelled_items_, alone.modelled_items_)
    np.testing.assert_array_equal(paired.weights_, alone.weights_)
    assert len(columns) == 12 < len(matrix.item_ids)


def test_pruned_cosine_ranks_dense_and_sparse_blocks_alike(monkeypatch):
    from scipy import sparse

    from ml.recommenders import similarity

    monkeypatch.setattr(similarity, "ITEM_CHUNK_SIZE", 7)  # several blocks
    random = np.random.default_rng(11)
    bought = (random.random((30, 25)) < 0.3).astype(np.float32)  # binary: many equal cosines
    bought[:, 24] = 0  # an item nobody bought has no neighbours
    neighbours = 4
    results = {}
    for share in (0.0, 2.0):  # every block ranked dense, then every block sparse
        monkeypatch.setattr(similarity, "DENSE_BLOCK_SHARE", share)
        results[share] = similarity.pruned_cosine(sparse.csr_matrix(bought), neighbours).toarray()
    np.testing.assert_array_equal(results[0.0], results[2.0])
    norms = np.sqrt(bought.sum(axis=0))
    products = np.outer(norms, norms)
    cosine = (bought.T @ bought) / np.where(products > 0, products, 1)
    np.fill_diagonal(cosine, 0.0)
    for item in range(25):
        kept = np.flatnonzero(results[0.0][:, item])
        assert len(kept) == min(neighbours, np.count_nonzero(cosine[:, item]))
        np.testing.assert_allclose(results[0.0][kept, item], cosine[kept, item], rtol=1e-5)
        dropped = np.setdiff1d(np.arange(25), kept)
        assert cosine[kept, item].min(initial=1) >= cosine[dropped, item].max() - 1e-6


def test_content_based_serves_a_product_nobody_bought():
    model = ContentBasedRecommender(grouped_products()).fit(purchase_interactions(grouped_shop()))
    similar = model.similar_items(["x-new"], 3)
    assert set(similar["similar_product_id"]) <= {f"x{i}" for i in range(10)}
    # a mug buyer is offered the new mug, though no one bought it, before any candle or poster
    ranked = top_products(model.recommend(["c0"], 31, exclude_seen=True), "c0")
    assert "x-new" in ranked
    first_other_group = min(ranked.index(product) for product in ranked if product[0] != "x")
    assert ranked.index("x-new") < first_other_group


def test_content_based_scores_the_same_with_its_vectors_or_profiles_dense_or_sparse(monkeypatch):
    from ml.recommenders import content_based

    interactions = purchase_interactions(grouped_shop())
    dense = ContentBasedRecommender(grouped_products()).fit(interactions)
    monkeypatch.setattr(content_based, "DENSE_VECTOR_CELLS", 0)  # too many: kept sparse
    sparse_held = ContentBasedRecommender(grouped_products()).fit(interactions)
    monkeypatch.setattr(content_based, "DENSE_VECTOR_CELLS", 16_000_000)
    monkeypatch.setattr(content_based, "DENSE_PROFILE_SHARE", 2.0)  # never reached: sparse
    sparse_profiles = ContentBasedRecommender(grouped_products()).fit(interactions)
    assert isinstance(dense._dense_space.vectors_t, tuple)
    assert not isinstance(sparse_held._dense_space.vectors_t, tuple)
    # half the vocabulary is in a profile here, so BLAS multiplies them dense
    assert dense.dense_profiles_ and not sparse_profiles.dense_profiles_
    rows = np.arange(len(dense.matrix_.customer_ids))
    for other in (sparse_held, sparse_profiles):
        np.testing.assert_allclose(other.score_rows(rows), dense.score_rows(rows), rtol=1e-6)
    space = dense.dense_columns_[::2]
    for model in (dense, sparse_held, sparse_profiles):
        _, columns, _ = model.score_block(rows, model.search_space(space)).top(3)
        assert set(columns) <= set(space)


def test_content_based_scores_sparse_profiles_the_same_with_its_vectors_in_blocks(monkeypatch):
    from ml.recommenders import content_based

    interactions = purchase_interactions(grouped_shop())
    monkeypatch.setattr(content_based, "DENSE_PROFILE_SHARE", 2.0)  # never reached: sparse
    whole = ContentBasedRecommender(grouped_products()).fit(interactions)
    words = whole.item_vectors_.shape[1]
    monkeypatch.setattr(content_based, "VECTOR_BLOCK_CELLS", 3 * words)  # 3 items per block
    blocked = ContentBasedRecommender(grouped_products()).fit(interactions)
    assert len(whole._dense_space.vectors_t) == 1
    assert len(blocked._dense_space.vectors_t) == -(-len(blocked.dense_columns_) // 3)
    rows = np.arange(len(whole.matrix_.customer_ids))
    np.testing.assert_array_equal(blocked.score_rows(rows), whole.score_rows(rows))
    # dense profiles go to BLAS whole, which blocks the product itself
    monkeypatch.setattr(content_based, "DENSE_PROFILE_SHARE", 0.0)
    dense_profiles = ContentBasedRecommender(grouped_products()).fit(interactions)
    assert dense_profiles.dense_profiles_ and len(dense_profiles._dense_space.vectors_t) == 1


# scoring at scale: sparse top-k, bounded dense item space

@pytest.mark.parametrize("stored", [0, 1, 500])
def test_sorted_lookup_finds_what_isin_finds_and_where_it_is(stored):
    from ml.recommenders.base import sorted_lookup

    random = np.random.default_rng(stored)
    keys = np.unique(random.integers(0, 2_000, stored))
    # below, between, at and beyond the stored keys, repeated and unordered
    wanted = np.r_[random.integers(-5, 2_010, 300), keys[:3], keys[-3:], -1, 5_000]
    found, hit = sorted_lookup(keys, wanted)
    assert hit.tolist() == np.isin(wanted, keys).tolist()
    assert (keys[found[hit]] == wanted[hit]).all()


def best_first(values: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """(row, column, value) of each row's k best finite values, sorted the slow, obvious way."""
    return [(row, column, float(values[row, column])) for row in range(len(values))
            for column in sorted(np.flatnonzero(np.isfinite(values[row])),
                                 key=lambda column: (-values[row, column], column))[:k]]


@pytest.mark.parametrize("k", [1, 6, 40])
def test_sparse_and_dense_top_k_keep_the_best_values_and_break_ties_by_lower_column(k):
    from scipy import sparse

    from ml.recommenders.base import top_k_csr, top_k_dense

    random = np.random.default_rng(k)
    dense = np.round(random.random((60, 300)) * 20).astype(np.float32)  # many ties
    dense[random.random(dense.shape) < 0.8] = 0
    dense[5] = 0  # a row with nothing stored
    dense[7, :4] = 21.0  # ties at the top
    dense[8] = 3.0  # a row that is one tie
    dense[9, 250:] = 22.0  # the best values all sit in the last columns
    dense[10, 1::2] = 0  # a row with fewer stored values than wanted, for the largest k
    dense[10, 0::2] = np.where(np.arange(150) < 20, 5.0, 0)
    expected = best_first(np.where(dense > 0, dense, -np.inf), k)
    for positions, columns, scores in (top_k_csr(sparse.csr_matrix(dense), k),
                                       top_k_dense(np.where(dense > 0, dense, -np.inf), k),
                                       top_k_dense(dense, k, above=0.0)):
        assert list(zip(positions.tolist(), columns.tolist(), scores.tolist())) == expected


def test_sparse_top_k_of_rows_stored_out_of_column_order_breaks_ties_by_lower_column():
    from scipy import sparse

    from ml.recommenders.base import top_k_csr

    random = np.random.default_rng(3)
    dense = np.round(random.random((40, 200)) * 5).astype(np.float32)  # many ties
    dense[random.random(dense.shape) < 0.6] = 0
    ordered = sparse.csr_matrix(dense)
    # each row's entries stored from the highest column down, as a sparse product leaves them
    shuffled = sparse.csr_matrix((np.concatenate([ordered[row].data[::-1] for row in range(40)]),
                                  np.concatenate([ordered[row].indices[::-1]
                                                  for row in range(40)]),
                                  ordered.indptr), shape=ordered.shape)
    assert not shuffled.has_sorted_indices
    positions, columns, scores = top_k_csr(shuffled, 6)
    assert list(zip(positions.tolist(), columns.tolist(), scores.tolist())) == \
        best_first(np.where(dense > 0, dense, -np.inf), 6)


@pytest.mark.parametrize("model", ["als", "item_knn"])
def test_dense_models_search_the_most_interacted_items_but_score_every_item(monkeypatch, model):
    module = importlib.import_module(f"ml.recommenders.{model}")
    interactions = purchase_interactions(grouped_shop())
    monkeypatch.setattr(module, "dense_item_space",
                        lambda matrix: ml_base.dense_item_space(matrix, max_items=5))
    fitted = (ALSRecommender(factors=4) if model == "als" else ItemKNNRecommender()
              ).fit(interactions)
    buyers = interactions.groupby("product_id")["customer_id"].nunique()
    most_interacted = buyers.sort_index().sort_values(ascending=False, kind="stable").index[:5]
    assert set(fitted.item_ids[fitted.dense_columns_]) == set(most_interacted)
    recommended = fitted.recommend(interactions["customer_id"].unique(), 10)
    assert set(recommended["product_id"]) <= set(most_interacted)
    # pair scores stay exact outside the searched items
    rows = np.arange(3)
    if model == "als":
        exact = fitted.user_factors_[rows] @ fitted.item_factors_.T
    else:
        exact = (fitted.binary_[rows] @ fitted.similarity_).toarray()
    assert (exact[:, ~np.isin(np.arange(exact.shape[1]), fitted.dense_columns_)] > 0).any()
    np.testing.assert_allclose(fitted.score_rows(rows), exact, rtol=1e-5, atol=1e-6)


def test_hybrid_tunes_on_a_fixed_sample_of_validation_customers():
    lines = grouped_shop(300)
    first = fit_hybrid(lines, grouped_products(), window_days=30)
    split = time_split(lines, 30)
    sampled = HybridRecommender(grouped_products(), tuning_customers=40).tune(
        purchase_interactions(split.train_lines), split.truth())
    assert sampled.tuned_customers_ == 40 < first.tuned_customers_
    again = HybridRecommender(grouped_products(), tuning_customers=40).tune(
        purchase_interactions(split.train_lines), split.truth())
    pd.testing.assert_frame_equal(sampled.recommend(["c0", "c7"], 10),
                                  again.recommend(["c0", "c7"], 10))


def test_a_blend_learned_again_replaces_the_first_and_leaves_the_components_as_fitted():
    lines = grouped_shop(300)
    split = time_split(lines, 30)
    train = purchase_interactions(split.train_lines)
    tuned = HybridRecommender(grouped_products()).tune(train, split.truth())
    # first a blend learned from half the window's purchases, then from all of them
    half = split.truth().sample(frac=0.5, random_state=1)
    relearned = HybridRecommender(grouped_products()).tune(train, half)
    first = relearned.recommend(["c0", "c7"], 10)
    relearned.learn_blend(split.truth())
    # the first blend ranks differently, so the check below can tell the two apart
    assert not first.equals(tuned.recommend(["c0", "c7"], 10))
    pd.testing.assert_frame_equal(relearned.recommend(["c0", "c7"], 10),
                                  tuned.recommend(["c0", "c7"], 10))


def test_evaluate_and_recommend_serves_the_evaluated_hybrid_relearned_and_refitted():
    lines = grouped_shop(300)
    split = time_split(lines, 30)
    earlier = validation_split(split, 30)
    metrics, served = evaluate_and_recommend(lines, grouped_products(), k=5)
    assert set(metrics["model_name"]) == {*SINGLE_MODEL_ORDER, "hybrid"}
    # the same steps, by hand: evaluate (tune on the window before the test, fit up to the
    # test), learn the blend on the test window, refit on everything
    hybrid = HybridRecommender(grouped_products()).tune(
        purchase_interactions(earlier.train_lines), earlier.truth())
    hybrid.fit(purchase_interactions(split.train_lines)).learn_blend(split.truth())
    hybrid.fit(purchase_interactions(lines))
    customers = np.sort(lines["customer_id"].unique())
    expected = hybrid.recommend(customers, 5)
    assert served["customer_id"].nunique() == len(customers)
    pd.testing.assert_frame_equal(
        served[["customer_id", "rank", "product_id"]].sort_values(["customer_id", "rank"])
        .reset_index(drop=True),
        expected[["customer_id", "rank", "product_id"]].sort_values(["customer_id", "rank"])
        .reset_index(drop=True))


def test_a_hybrid_released_before_its_refit_holds_no_fit_and_refits_from_the_same_start():
    lines = grouped_shop(300)
    split = time_split(lines, 30)

    def tuned() -> HybridRecommender:
        return HybridRecommender(grouped_products()).tune(
            purchase_interactions(split.train_lines), split.truth())

    released = tuned().release_fits()
    assert not any(hasattr(released, name) for name in ["components_", "matrix_"])
    with pytest.raises(RuntimeError, match="not fitted"):
        released.recommend(["c0"], 5)
    released.fit(purchase_interactions(lines))
    assert released.components_["als"].warm_started_
    customers = np.sort(lines["customer_id"].unique())
    pd.testing.assert_frame_equal(released.recommend(customers, 5),
                                  tuned().fit(purchase_interactions(lines)).recommend(customers, 5))


def test_evaluate_and_recommend_from_lines_left_in_duckdb_as_from_a_frame():
    import duckdb

    lines = dirty_shop(300)
    connection = duckdb.connect()
    connection.register("lines", lines)
    from_frame = evaluate_and_recommend(lines, grouped_products(), k=5)
    in_duckdb = evaluate_and_recommend(PurchaseLog(connection.table("lines")), grouped_products(),
                                       k=5)
    assert len(from_frame[1]) == 5 * lines["customer_id"].nunique()
    for expected, got in zip(from_frame, in_duckdb):
        # fit_seconds: wall time
        pd.testing.assert_frame_equal(got.drop(columns="fit_seconds", errors="ignore"),
                                      expected.drop(columns="fit_seconds", errors="ignore"))


def test_the_first_trees_keep_each_customers_best_candidates_ties_to_the_earlier_pair():
    random = np.random.default_rng(0)
    # a coarse feature, so that many pairs tie on the first trees' score
    features = pd.DataFrame({"a": random.integers(0, 4, 600).astype(float),
                             "b": random.random(600)})
    bought = features["a"] + features["b"] + random.random(600) > 3.0
    ranker = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(features, bought)
    positions = np.repeat(np.arange(4), [300, 200, 60, 40])
    first_trees = list(ranker.staged_decision_function(features))[PRUNING_TREES - 1]
    expected = []
    for position in range(4):
        pairs = np.flatnonzero(positions == position)
        expected += sorted(pairs, key=lambda pair: (-first_trees[pair], pair))[:50]
    assert len(set(first_trees[:300])) < 300
    assert best_by_first_trees(ranker, features, positions, 50).tolist() == sorted(expected)
    # no customer with more than 50 candidates: all are kept
    assert best_by_first_trees(ranker, features, np.repeat(np.arange(12), 50), 50).tolist() == \
        list(range(600))


# cross-sell

def test_cross_sell_support_confidence_and_lift_on_a_hand_example():
    # 5 baskets: A in 3, B in 2, C in 2, A with B in 2, A with C in 1
    lines = order_lines([("c", ["A", "B"]), ("c", ["A", "B"]), ("c", ["A", "C"]), ("c", ["C"]),
                         ("c", ["D"])])
    pairs = FrequentlyBoughtTogether(min_pair_count=1).fit(lines).pairs_.set_index(
        ["product_id", "other_product_id"])
    # A -> C and C -> A have lift 5/6 < 1 and are left out
    assert sorted(pairs.index) == [("A", "B"), ("B", "A")]
    assert pairs.loc[("A", "B")].to_dict() == pytest.approx(
        {"support": 2 / 5, "confidence": 2 / 3, "lift": (2 / 3) / (2 / 5), "pair_count": 2})
    assert pairs.loc[("B", "A"), "confidence"] == pytest.approx(1.0)
    assert pairs.loc[("B", "A"), "lift"] == pytest.approx(1 / (3 / 5))
    assert FrequentlyBoughtTogether(min_pair_count=3).fit(lines).pairs_.empty


def test_cross_sell_counts_every_pair_as_a_self_join_of_the_baskets_does(monkeypatch):
    # chunks of 7 items, so that pairs are counted across chunk boundaries
    monkeypatch.setattr(cross_sell, "ITEM_CHUNK_SIZE", 7)
    lines = dirty_shop()
    baskets = lines.loc[~lines["is_cancellation"], ["order_id", "product_id"]].drop_duplicates()
    pairs = baskets.merge(baskets, on="order_id", suffixes=("", "_other"))
    pairs = pairs[pairs["product_id"] != pairs["product_id_other"]]
    pair_count = pairs.groupby(["product_id", "product_id_other"]).size()
    n_baskets, item_baskets = baskets["order_id"].nunique(), baskets["product_id"].value_counts()
    first, other = (pair_count.index.get_level_values(level) for level in [0, 1])
    expected = pd.DataFrame({
        "product_id": first, "other_product_id": other,
        "support": pair_count.to_numpy() / n_baskets,
        "confidence": pair_count.to_numpy() / item_baskets[first].to_numpy(),
        "lift": pair_count.to_numpy() * n_baskets
        / (item_baskets[first].to_numpy() * item_baskets[other].to_numpy()),
        "pair_count": pair_count.to_numpy()})
    expected = expected[(expected["pair_count"] >= 3) & (expected["lift"] > 1)]
    fitted = FrequentlyBoughtTogether(min_pair_count=3).fit(lines).pairs_
    assert len(fitted) > 100
    key = ["product_id", "other_product_id"]
    pd.testing.assert_frame_equal(fitted.sort_values(key, ignore_index=True),
                                  expected.sort_values(key, ignore_index=True))
    # a pair's lift is its mirror image's to the last bit, so equal lifts tie exactly
    mirrored = fitted.merge(fitted, left_on=key, right_on=key[::-1])
    assert len(mirrored) == len(fitted)
    assert (mirrored["lift_x"] == mirrored["lift_y"]).all()
    capped = FrequentlyBoughtTogether(min_pair_count=3, partners_per_product=2).fit(lines).pairs_
    strongest = expected.sort_values(["product_id", "lift", "other_product_id"],
                                     ascending=[True, False, True]).groupby("product_id").head(2)
    assert fitted.groupby("product_id").size().max() > 2
    pd.testing.assert_frame_equal(capped.sort_values(key, ignore_index=True),
                                  strongest.sort_values(key, ignore_index=True))


def test_cross_sell_keeps_each_products_strongest_partners_by_lift():
    # B, C and D are each bought with A twice, but D also alone twice: A's lift with B and C
    # is 4/3, with D 2/3 (of B and C, equal, the lower id wins)
    lines = order_lines([("c", ["A", "B"]), ("c", ["A", "B"]), ("c", ["A", "C"]),
                         ("c", ["A", "C"]), ("c", ["A", "D"]), ("c", ["A", "D"]),
                         ("c", ["D"]), ("c", ["D"])])
    every = FrequentlyBoughtTogether(min_pair_count=1, min_lift=0.0).fit(lines).pairs_
    capped = FrequentlyBoughtTogether(min_pair_count=1, min_lift=0.0,
                                      partners_per_product=1).fit(lines).pairs_
    assert every.groupby("product_id").size().to_dict() == {"A": 3, "B": 1, "C": 1, "D": 1}
    assert capped[["product_id", "other_product_id"]].values.tolist() == [
        ["A", "B"], ["B", "A"], ["C", "A"], ["D", "A"]]
    # the kept pairs' figures are those of the uncapped count
    pd.testing.assert_frame_equal(capped, every.merge(capped[["product_id", "other_product_id"]]))


# hybrid and outputs

@pytest.fixture(scope="module")
def shop_hybrid() -> HybridRecommender:
    return fit_hybrid(grouped_shop(300), grouped_products(), window_days=30)


def test_hybrid_recommends_k_items_per_customer_and_falls_back_for_strangers(shop_hybrid):
    recommended = shop_hybrid.recommend(["c0", "c1", "stranger"], 5)
    assert recommended.groupby("customer_id").size().to_dict() == {"c0": 5, "c1": 5, "stranger": 5}
    popular = PopularityRecommender(window_days=30).fit(purchase_interactions(grouped_shop(300)))
    assert top_products(recommended, "stranger") == top_products(
        popular.recommend(["c0"], 5), "c0")


def test_hybrid_excludes_seen_items_when_asked(shop_hybrid):
    recommended = shop_hybrid.recommend(["c0", "c1"], 5, exclude_seen=True)
    seen = purchase_interactions(grouped_shop(300))[["customer_id", "product_id"]]
    assert recommended.merge(seen, on=["customer_id", "product_id"]).empty


def test_hybrid_beats_popularity_on_a_held_out_window():
    lines = grouped_shop(300, seed=1)
    split = time_split(lines, window_days=20)
    train = purchase_interactions(split.train_lines)
    hybrid = fit_hybrid(split.train_lines, grouped_products(), window_days=20)
    hybrid.fit(train)
    popularity = PopularityRecommender().fit(train)
    scores = {model.name: evaluate_recommendations(model.recommend, train, split.truth(), (5,))
              .set_index("variant")["ndcg"] for model in (hybrid, popularity)}
    assert scores["hybrid"]["all"] > scores["popularity"]["all"] + 0.1
    assert scores["hybrid"]["new"] > scores["popularity"]["new"]


def test_hybrid_is_deterministic(shop_hybrid):
    again = fit_hybrid(grouped_shop(300), grouped_products(), window_days=30)
    pd.testing.assert_frame_equal(shop_hybrid.recommend(["c0", "c7"], 10),
                                  again.recommend(["c0", "c7"], 10))


def test_hybrid_tunes_and_scores_the_same_in_batches_of_any_size(monkeypatch):
    # the batch size is a memory and speed setting (ml.recommenders.base.CELLS_PER_BATCH): the
    # blend's sampled negatives and every customer's candidates must not depend on it
    monkeypatch.setenv("GLOBALSHOP_RECOMMENDER_THREADS", "1")
    lines = grouped_shop(300)
    recommended = []
    for rows in (7, 1_000):
        monkeypatch.setattr(ml_base, "MAX_BATCH_ROWS", rows)
        model = fit_hybrid(lines, grouped_products(), window_days=30)
        assert model.batch_size() == rows
        recommended.append(model.recommend(lines["customer_id"].unique(), 10))
    pd.testing.assert_frame_equal(*recommended)


def test_dense_scores_of_a_customer_do_not_depend_on_the_batch_size():
    # BLAS sums a product of 7 rows in another order than one of 300 (a plain `@` fails this on
    # this machine's OpenBLAS): ALS's and the content model's scores go through
    # row_stable_product, so a customer's scores are the same bits in any batch
    random = np.random.default_rng(0)
    customers = random.random((300, 64), dtype=np.float32)
    items = np.ascontiguousarray(random.random((3_000, 64), dtype=np.float32)).T
    whole = ml_base.row_stable_product(customers, items)
    for rows in (1, 7, 100):
        batched = np.vstack([ml_base.row_stable_product(customers[start:start + rows], items)
                             for start in range(0, len(customers), rows)])
        assert np.array_equal(batched, whole)
    np.testing.assert_allclose(whole, customers @ items, rtol=1e-6)


def test_hybrid_scores_the_same_on_one_thread_and_on_several(monkeypatch):
    # batches of 16 customers, so tuning and scoring both run several batches side by side
    monkeypatch.setattr(ml_base, "MAX_BATCH_ROWS", 16)
    lines = grouped_shop(300)
    recommended = []
    for threads in ("1", "3"):
        monkeypatch.setenv("GLOBALSHOP_RECOMMENDER_THREADS", threads)
        model = fit_hybrid(lines, grouped_products(), window_days=30)
        assert model.batch_size() == 16
        recommended.append(model.recommend(lines["customer_id"].unique(), 10))
    assert recommended[0]["customer_id"].nunique() == 300
    pd.testing.assert_frame_equal(*recommended)


def test_customer_recommendations_explain_each_item():
    lines = order_lines([(f"c{i}", ["tea", "cup"]) for i in range(6)] + [("me", ["tea"])]
                        + [(f"d{i}", ["pen"]) for i in range(3)])
    interactions = purchase_interactions(lines)
    products = pd.DataFrame({"product_id": ["tea", "cup"], "description": ["Green tea", None]})
    table = customer_recommendations(
        BuyAgainRecommender().fit(interactions), ["me"], 5, interactions, products=products)
    assert table.columns.tolist() == ["customer_id", "rank", "product_id", "score", "model_name",
                                      "reason"]
    assert table["reason"].tolist() == [REASON_REPEAT]

    knn = ItemKNNRecommender().fit(interactions)
    companions = product_cross_sell(lines, min_pair_count=2)
    table = customer_recommendations(knn, ["me"], 1, interactions, companions,
                                     knn.similar_items(["tea", "cup"]), products)
    assert table[["product_id", "model_name", "reason"]].to_dict("records") == [
        {"product_id": "cup", "model_name": "item_knn", "reason": "bought together with Green tea"}]
    no_context = customer_recommendations(knn, ["me"], 1)
    assert no_context["reason"].tolist() == [REASON_POPULAR]


def test_reasons_found_by_lookups_and_by_merges_are_the_same(monkeypatch):
    from ml.recommenders import outputs

    lines = grouped_shop(120)
    interactions = purchase_interactions(lines)
    knn = ItemKNNRecommender().fit(interactions)
    recommendations = knn.recommend(interactions["customer_id"].unique(), 5)
    # pairs of group x only, so that the other groups' reasons fall back on similar items; the
    # scores rounded, so that a recommendation has equally similar past products
    companions = product_cross_sell(lines, min_pair_count=2).query("product_id.str[0] == 'x'")
    similar = knn.similar_items(knn.item_ids, 5).assign(score=lambda f: f["score"].round(1))
    reasons = {}
    for steps in (0, 10**9):  # every chunk by lookups, then every chunk by merges
        monkeypatch.setattr(outputs, "LOOKUP_STEPS", steps)
        reasons[steps] = explained(recommendations, knn.name, interactions, companions, similar)
    pd.testing.assert_frame_equal(reasons[0], reasons[10**9])
    kinds = set(reasons[0]["reason"].str.split().str[:2].str.join(" "))
    assert {"bought together", "similar to"} <= kinds


def test_reasons_from_the_purchase_matrix_match_those_from_its_frame():
    lines = grouped_shop(120)
    interactions = purchase_interactions(lines)
    knn = ItemKNNRecommender().fit(interactions)
    recommendations = pd.concat([
        knn.recommend(interactions["customer_id"].unique()[::7], 5),
        # a customer without purchases (popular now), and a product nobody bought, whose id
        # sorts first: the matrix's columns must be moved to the reasons' items
        pd.DataFrame({"customer_id": ["stranger"], "rank": [1], "product_id": ["new"],
                      "score": [1.0]})], ignore_index=True)
    # pairs of group x only, so that the other groups' reasons fall back on similar items
    companions = product_cross_sell(lines, min_pair_count=2).query("product_id.str[0] == 'x'")
    similar = knn.similar_items(knn.item_ids, 5)
    from_frame, from_matrix = (
        explained(recommendations, knn.name, history, companions, similar, grouped_products())
        for history in (interactions, InteractionMatrix.from_frame(interactions)))
    pd.testing.assert_frame_equal(from_frame, from_matrix)
    kinds = set(from_frame["reason"].str.split().str[:2].str.join(" "))
    assert {"you bought", "bought together", "similar to", "popular now"} <= kinds


def test_product_similar_items_covers_products_nobody_bought():
    table = product_similar_items(grouped_shop(), grouped_products(), k=3)
    assert table.columns.tolist() == ["product_id", "rank", "similar_product_id", "score"]
    assert set(table["product_id"]) == set(grouped_products()["product_id"])
    ranks = table.groupby("product_id")["rank"].apply(list)
    assert ranks.map(lambda product_ranks: product_ranks == [1, 2, 3]).all()
    assert set(table.loc[table["product_id"] == "x-new", "similar_product_id"]) <= {
        f"x{i}" for i in range(10)}


# real data

@pytest.mark.slow
@pytest.mark.real_data
def test_hybrid_meets_the_quality_bar_on_online_retail(online_retail_file):
    from ml.evaluate_recommenders import evaluate

    metrics = evaluate(uci_order_lines(online_retail_file), uci_products(online_retail_file))
    at_10 = metrics[metrics["k"] == 10].set_index(["model_name", "variant"])
    hybrid, singles = at_10.loc["hybrid"], at_10.drop(index="hybrid", level="model_name")
    assert hybrid.loc["all", "ndcg"] >= 0.34
    assert hybrid.loc["new", "ndcg"] >= 0.105
    for variant in ("all", "new"):
        best_single = singles.xs(variant, level="variant")["ndcg"].max()
        assert hybrid.loc[variant, "ndcg"] > best_single
    assert hybrid.loc["all", "coverage"] > 0.30
    assert at_10.loc[("hybrid", "all"), "fit_seconds"] < 60


def test_sparse_top_k_breaks_ties_at_the_cut_by_lower_column():
    from scipy import sparse

    from ml.recommenders.base import top_k_csr

    row = np.array([[0.5, 1.0, 0.5, 0.0, 0.5, 2.0, 0.5]], dtype=np.float32)
    positions, columns, scores = top_k_csr(sparse.csr_matrix(row), 4)
    assert columns.tolist() == [5, 1, 0, 2]
