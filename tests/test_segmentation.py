import numpy as np
import pandas as pd
import pytest

from ml import segmentation as S

def blobs(seed: int = 0) -> pd.DataFrame:
    """Three well-separated customer types on a log scale."""
    rng = np.random.default_rng(seed)
    centres = [(5, 20, 5000, 250, 80), (60, 4, 800, 200, 20), (250, 1, 100, 100, 5)]
    rows = [np.exp(np.log(centre) + rng.normal(0, 0.1, size=5)) for centre in centres
            for _ in range(100)]
    return pd.DataFrame(rows, columns=list(S.CLUSTER_COLUMNS),
                        index=pd.Index([f"c{i}" for i in range(300)], name="customer_id"))


def test_kmeans_finds_the_planted_clusters_and_labels_them():
    features = blobs()
    clusters, k, silhouettes = S.choose_k_and_cluster(features, k_range=range(2, 6))
    assert k == 3 and silhouettes.idxmax() == 3 and clusters.nunique() == 3
    again, _, _ = S.choose_k_and_cluster(features, k_range=range(2, 6))
    pd.testing.assert_series_equal(clusters, again)
    profiles = S.cluster_profiles(features, clusters)
    labels = S.label_clusters(profiles, features)
    best = profiles["revenue"].idxmax()
    assert labels[best] == "recent, frequent, high spend"
    assert labels[profiles["revenue"].idxmin()] == "lapsed, one-off, low spend"
    assert profiles["share"].sum() == pytest.approx(1.0)


def read_profiles(path) -> pd.DataFrame:
    """The Kaggle TSV renamed to the contract's customer_profiles columns."""
    raw = pd.read_csv(path, sep="\t")
    birth_year = raw["Year_Birth"].where(raw["Year_Birth"] >= 1920)
    marital = raw["Marital_Status"].where(
        raw["Marital_Status"].isin(["Single", "Married", "Together", "Divorced", "Widow"]),
        "Unknown")
    profiles = pd.DataFrame({
        "customer_id": "profiles:" + raw["ID"].astype(str), "birth_year": birth_year,
        "education": raw["Education"], "marital_status": marital, "income": raw["Income"],
        "kids_at_home": raw["Kidhome"], "teens_at_home": raw["Teenhome"],
        "enrolled_on": pd.to_datetime(raw["Dt_Customer"], format="%d-%m-%Y"),
        "recency_days": raw["Recency"], "deals_purchases": raw["NumDealsPurchases"],
        "web_purchases": raw["NumWebPurchases"], "catalog_purchases": raw["NumCatalogPurchases"],
        "store_purchases": raw["NumStorePurchases"],
        "web_visits_last_month": raw["NumWebVisitsMonth"],
        "has_complained": raw["Complain"].astype(bool), "responded": raw["Response"]})
    for source, target in [("MntWines", "wines"), ("MntFruits", "fruits"),
                           ("MntMeatProducts", "meat"), ("MntFishProducts", "fish"),
                           ("MntSweetProducts", "sweets"), ("MntGoldProds", "gold")]:
        profiles[f"amount_{target}"] = raw[source]
    for n in range(1, 6):
        profiles[f"accepted_campaign_{n}"] = raw[f"AcceptedCmp{n}"]
    return profiles


def test_profile_segments_and_campaign_response_on_real_profiles(customer_profiles_file):
    profiles = read_profiles(customer_profiles_file)
    features = S.profile_features(profiles, pd.Timestamp("2014-07-01"))
    segments = S.profile_segments(features)
    assert segments.notna().all().all() and len(segments) == 2240
    assert set(segments["main_channel"]) <= {"web", "catalog", "store", "none"}
    assert (segments.loc[features["age"].isna(), "age_band"] == "Unknown").all()
    responded = profiles.set_index("customer_id")["responded"]
    model = S.CampaignResponseModel()
    auc = model.validation_auc(features, responded)
    assert auc > 0.85  # out-of-fold; campaign history and recency carry most of it
    scores = model.fit(features, responded).predict(features)
    assert scores.between(0, 1).all() and scores.index.equals(features.index)


def test_large_populations_are_clustered_on_a_fixed_sample_and_all_assigned():
    features = pd.concat([blobs(seed) for seed in range(4)], ignore_index=True)
    features.index = pd.Index([f"c{i}" for i in range(len(features))], name="customer_id")
    clusters, k, _ = S.choose_k_and_cluster(features, k_range=range(2, 6), fit_sample=200)
    assert k == 3 and clusters.index.equals(features.index) and clusters.notna().all()
    again, _, _ = S.choose_k_and_cluster(features, k_range=range(2, 6), fit_sample=200)
    pd.testing.assert_series_equal(clusters, again)
    # The planted types are recovered for every customer, sampled or not.
    planted = np.tile(np.repeat([0, 1, 2], 100), 4)
    assert pd.crosstab(planted, clusters.to_numpy()).gt(0).sum(axis=1).eq(1).all()
