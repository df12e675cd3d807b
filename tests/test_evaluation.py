import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.evaluation import TrainingSummary, drop_known_pairs, evaluate_recommendations, \
    ranking_metrics, rerank, time_split, validation_split
from ml.recommenders.interactions import InteractionMatrix

sys.path.insert(0, str(Path(__file__).parent))
from reference_data import uci_order_lines  # noqa: E402


def recommendations(rows: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": customer, "rank": rank, "product_id": product}
                         for customer, products in rows.items()
                         for rank, product in enumerate(products, start=1)],
                        columns=["customer_id", "rank", "product_id"])


def truth(rows: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": customer, "product_id": product}
                         for customer, products in rows.items() for product in products])


def order_lines(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(customer, order, product, timestamp) purchases as order lines."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "product_id", "ordered_at"])
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]), is_cancellation=False,
                        quantity=1, unit_price=1.0, line_amount=1.0)


def test_metrics_match_a_hand_computed_example():
    # c1: hit at rank 1 of 2 relevant; c2: recommendations but no hit; c3: no recommendations
    recs = recommendations({"c1": ["a", "x", "b"], "c2": ["y", "z"]})
    relevant = truth({"c1": ["a", "b"], "c2": ["c"], "c3": ["a"]})
    buyers = pd.Series({"a": 4, "x": 1, "y": 2})  # z: no training buyer, counted as one

    metrics = ranking_metrics(recs, relevant, k=2, catalogue_size=8, item_buyers=buyers,
                              n_customers=8)

    c1_ndcg = 1 / (1 + 1 / math.log2(3))
    assert metrics["recall"] == pytest.approx(0.5 / 3)
    assert metrics["ndcg"] == pytest.approx(c1_ndcg / 3)
    assert metrics["hit_rate"] == pytest.approx(1 / 3)
    assert metrics["coverage"] == pytest.approx(4 / 8)  # a, x, y, z
    assert metrics["novelty"] == pytest.approx((1 + 3 + 2 + 3) / 4)


def test_recall_divides_by_k_when_more_items_are_relevant_than_k():
    recs = recommendations({"c1": ["a", "b", "x"]})
    relevant = truth({"c1": ["a", "b", "c", "d", "e"]})
    metrics = ranking_metrics(recs, relevant, k=2, catalogue_size=6,
                              item_buyers=pd.Series(dtype=float), n_customers=1)
    assert metrics["recall"] == pytest.approx(1.0)
    assert metrics["ndcg"] == pytest.approx(1.0)


def test_ndcg_rewards_hits_at_the_top():
    relevant = truth({"c1": ["a"]})
    scores = [ranking_metrics(recommendations({"c1": order}), relevant, 3, 3,
                              pd.Series(dtype=float), 1)["ndcg"]
              for order in (["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"])]
    assert scores == pytest.approx([1.0, 1 / math.log2(3), 0.5])


def test_new_items_variant_removes_training_items_from_truth_and_recommendations():
    train = truth({"c1": ["a"], "c2": ["b"]})
    test = truth({"c1": ["a", "b"], "c2": ["b"]})

    def recommend(customers, k, exclude_seen):
        return recommendations({"c1": ["a", "b"], "c2": ["b", "a"]})

    metrics = evaluate_recommendations(recommend, train, test, k_values=(1,)).set_index("variant")
    # all items: c1 hit at 1 (a), c2 hit at 1 (b); new items: c2 has nothing new and is dropped,
    # c1's "a" is removed from both sides, so "b" moves to rank 1 and hits
    assert metrics.loc["all", "ndcg"] == pytest.approx(1.0)
    assert metrics.loc["new", "customers"] == 1
    assert metrics.loc["new", "ndcg"] == pytest.approx(1.0)
    assert list(rerank(drop_known_pairs(recommend(None, 2, True), train))["rank"]) == [1, 1]


def test_a_summary_of_the_judged_customers_or_of_the_matrix_scores_as_the_whole_frame():
    train = truth({"c1": ["a", "b"], "c2": ["b"], "c3": ["c", "d"]})
    test = truth({"c1": ["a", "c"], "c2": ["a", "d"]})

    def recommend(customers, k, exclude_seen):
        return recommendations({"c1": ["a", "c", "b"], "c2": ["b", "d", "a"]})

    matrix = InteractionMatrix.from_frame(train.assign(weight=1.0,
                                                       last_at=pd.Timestamp("2024-01-01")))
    whole = evaluate_recommendations(recommend, TrainingSummary.of(train), test, k_values=(1, 3))
    for summary in (TrainingSummary.of(train, judged=["c1", "c2"]),
                    TrainingSummary.of(matrix, judged=["c1", "c2"])):
        assert sorted(map(tuple, summary.seen.to_numpy())) == [("c1", "a"), ("c1", "b"),
                                                               ("c2", "b")]
        # c3's products still count in the catalogue (coverage) and in the buyers (novelty)
        pd.testing.assert_frame_equal(
            evaluate_recommendations(recommend, summary, test, k_values=(1, 3)), whole)


def test_a_model_that_only_repeats_gets_no_new_items_score():
    train = truth({"c1": ["a"]})
    metrics = evaluate_recommendations(lambda customers, k, exclude_seen: recommendations({}),
                                       train, truth({"c1": ["a", "b"]}), k_values=(10,),
                                       recommends_new_items=False).set_index("variant")
    assert np.isnan(metrics.loc["new", "ndcg"])
    assert metrics.loc["all", "ndcg"] == 0.0


def test_time_split_has_no_leakage():
    lines = order_lines([
        ("c1", "o1", "a", "2024-01-05 10:00"), ("c1", "o2", "b", "2024-02-20 09:00"),
        ("c2", "o3", "a", "2024-02-01 12:00"), ("c3", "o4", "c", "2024-02-25 16:00"),
        ("c2", "o5", "c", "2024-03-01 17:30"),
    ])
    split = time_split(lines, window_days=10)

    assert split.test_end == pd.Timestamp("2024-03-02")  # midnight after the last order's day
    assert split.test_start == pd.Timestamp("2024-02-21")
    assert split.train_lines["ordered_at"].max() < split.test_start
    assert split.test_lines["ordered_at"].min() >= split.test_start
    assert len(split.train_lines) + len(split.test_lines) == len(lines)
    # c3 bought only in the window: not judged; c2's test purchase is the only truth
    assert split.truth().to_dict("records") == [{"customer_id": "c2", "product_id": "c"}]

    validation = validation_split(split, window_days=10)
    assert validation.test_end == split.test_start
    assert validation.test_lines["ordered_at"].max() < split.test_start
    assert validation.truth().to_dict("records") == [{"customer_id": "c1", "product_id": "b"}]


@pytest.mark.real_data
def test_online_retail_split_matches_the_issue(online_retail_file):
    split = time_split(uci_order_lines(online_retail_file))
    assert split.test_start == pd.Timestamp("2011-11-10")
    assert split.test_end == pd.Timestamp("2011-12-10")
    assert split.truth()["customer_id"].nunique() == 1375


def test_judged_customers_are_a_fixed_bounded_sample():
    from ml.evaluate_recommenders import judged_sample

    relevant = truth({f"c{number}": ["a", "b"] for number in range(50)})
    sampled, detail = judged_sample(relevant, max_customers=10, seed=3)
    assert sampled["customer_id"].nunique() == 10
    assert detail == "10 of 50 judged customers, sampled (seed 3)"
    # each sampled customer keeps all their truth rows, and the sample repeats
    assert sampled.groupby("customer_id").size().eq(2).all()
    pd.testing.assert_frame_equal(sampled, judged_sample(relevant, 10, 3)[0])
    everyone, detail = judged_sample(relevant, max_customers=50)
    assert len(everyone) == 100 and detail == "all 50 judged customers"
