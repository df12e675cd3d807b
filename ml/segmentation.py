"""Customer segments: k-means clusters with readable labels, and
demographic / spending segments plus a campaign-response model for the customer-profile source.
"""

from collections.abc import Iterable
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml.features import require_columns
from ml.model_registry import add_score_metadata

CLUSTER_COLUMNS = ("days_since_last_order", "orders", "revenue", "avg_order_value",
                   "distinct_products")
CATEGORY_COLUMNS = ("amount_wines", "amount_fruits", "amount_meat", "amount_fish",
                    "amount_sweets", "amount_gold")
CHANNEL_COLUMNS = ("web_purchases", "catalog_purchases", "store_purchases")
CAMPAIGN_COLUMNS = tuple(f"accepted_campaign_{n}" for n in range(1, 6))


def standardised_log_features(features: pd.DataFrame,
                              columns: Iterable[str] = CLUSTER_COLUMNS) -> pd.DataFrame:
    """log1p of non-negative behaviour columns, then z-scores: k-means needs comparable scales."""
    columns = list(columns)
    require_columns(features, columns, "clustering features")
    logged = np.log1p(features[columns].clip(lower=0.0).fillna(0.0))
    spread = logged.std(ddof=0).replace(0.0, 1.0)
    return (logged - logged.mean()) / spread


def choose_k_and_cluster(features: pd.DataFrame, columns: Iterable[str] = CLUSTER_COLUMNS,
                         k_range: Iterable[int] = range(2, 9), random_state: int = 0,
                         silhouette_sample: int = 3000, fit_sample: int = 20_000,
                         n_init: int = 10) -> tuple[pd.Series, int, pd.Series]:
    """K-means for each k in ``k_range``; keep the k with the best silhouette.

    Returns (cluster per customer, chosen k, silhouette per k). With more than ``fit_sample``
    customers, k-means is fitted and k chosen on a fixed random sample of ``fit_sample`` of them
    (drawn with ``random_state``), and every customer is then assigned to the nearest centre of
    the chosen fit: 20,000 customers place five-column centres as well as hundreds of thousands
    do, at a fraction of the cost. The standardisation uses every customer. The silhouette is
    measured on a fixed random sample of at most ``silhouette_sample`` of the fitted customers.
    """
    matrix = standardised_log_features(features, columns).to_numpy()
    fitted = matrix
    if len(matrix) > fit_sample:
        rows = np.random.default_rng(random_state).choice(len(matrix), fit_sample, replace=False)
        fitted = matrix[np.sort(rows)]
    sample = min(silhouette_sample, len(fitted))
    scores, models = {}, {}
    for k in k_range:
        if k >= len(fitted):
            break
        models[k] = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(fitted)
        scores[k] = silhouette_score(fitted, models[k].labels_, sample_size=sample,
                                     random_state=random_state)
    if not scores:
        raise ValueError(f"clustering needs more customers than the smallest k; got {len(matrix)}")
    silhouettes = pd.Series(scores, name="silhouette").rename_axis("k")
    best_k = int(silhouettes.idxmax())
    labels = models[best_k].labels_ if fitted is matrix else models[best_k].predict(matrix)
    return pd.Series(labels, index=features.index, name="cluster"), best_k, silhouettes


def cluster_profiles(features: pd.DataFrame, clusters: pd.Series,
                     columns: Iterable[str] = CLUSTER_COLUMNS) -> pd.DataFrame:
    """Median of each behaviour column per cluster, with its size and share of customers."""
    columns = list(columns)
    profiles = features[columns].groupby(clusters).median()
    profiles["customers"] = clusters.value_counts().sort_index()
    profiles["share"] = profiles["customers"] / profiles["customers"].sum()
    return profiles


def label_clusters(profiles: pd.DataFrame, overall: pd.DataFrame) -> pd.Series:
    """A readable label per cluster from where its medians sit among all customers' values.

    Each of recency, frequency and spend is called by the tercile of the overall distribution
    its median falls in, e.g. "recent, frequent, high spend".
    """
    require_columns(profiles, ("days_since_last_order", "orders", "revenue"), "cluster profiles")
    words = {
        "days_since_last_order": ("recent", "cooling", "lapsed"),
        "orders": ("one-off", "occasional", "frequent"),
        "revenue": ("low spend", "mid spend", "high spend"),
    }
    parts = []
    for column, names in words.items():
        low, high = overall[column].quantile([1 / 3, 2 / 3])
        tercile = np.where(profiles[column] <= low, 0, np.where(profiles[column] <= high, 1, 2))
        parts.append([names[t] for t in tercile])
    labels = [", ".join(words_) for words_ in zip(*parts, strict=True)]
    # Two clusters can share a description; number them so labels stay unique keys.
    series = pd.Series(labels, index=profiles.index, name="cluster_label")
    duplicates = series.duplicated(keep=False)
    series[duplicates] = series[duplicates] + " #" + series[duplicates].groupby(
        series[duplicates]).cumcount().add(1).astype(str)
    return series


PROFILE_COLUMNS = ("customer_id", "birth_year", "income", "kids_at_home", "teens_at_home",
                   "enrolled_on", "recency_days", *CATEGORY_COLUMNS, "deals_purchases",
                   *CHANNEL_COLUMNS, "web_visits_last_month", *CAMPAIGN_COLUMNS,
                   "has_complained", "education", "marital_status")


def profile_features(customer_profiles: pd.DataFrame, as_of_date: pd.Timestamp) -> pd.DataFrame:
    """Numeric features of the customer-profile source, indexed by customer_id."""
    require_columns(customer_profiles, PROFILE_COLUMNS, "customer_profiles")
    profiles = customer_profiles.set_index("customer_id")
    as_of_date = pd.Timestamp(as_of_date)
    total_spend = profiles[list(CATEGORY_COLUMNS)].sum(axis=1)
    purchases = profiles[list(CHANNEL_COLUMNS)].sum(axis=1)
    features = pd.DataFrame({
        "age": as_of_date.year - profiles["birth_year"],
        "income": profiles["income"],
        "children": profiles["kids_at_home"] + profiles["teens_at_home"],
        "tenure_days": (as_of_date - pd.to_datetime(profiles["enrolled_on"])) / pd.Timedelta(days=1),
        "recency_days": profiles["recency_days"],
        "total_spend": total_spend,
        "purchases": purchases,
        "deals_share": profiles["deals_purchases"] / purchases.where(purchases > 0),
        "web_visits_last_month": profiles["web_visits_last_month"],
        "campaigns_accepted": profiles[list(CAMPAIGN_COLUMNS)].sum(axis=1),
        "has_complained": profiles["has_complained"].astype(float),
    }, index=profiles.index)
    for column in CATEGORY_COLUMNS:
        features[f"share_{column.removeprefix('amount_')}"] = (
            profiles[column] / total_spend.where(total_spend > 0))
    for column in CHANNEL_COLUMNS:
        features[f"share_{column}"] = profiles[column] / purchases.where(purchases > 0)
    for column in CAMPAIGN_COLUMNS:
        features[column] = profiles[column]
    features["education"] = profiles["education"]
    features["marital_status"] = profiles["marital_status"]
    return features


def _largest_share(shares: pd.DataFrame) -> pd.Series:
    """Column name of each row's largest share; "none" for a customer with nothing bought."""
    largest = shares.fillna(-1.0).idxmax(axis=1)
    return largest.where(shares.notna().any(axis=1), "none")


def profile_segments(features: pd.DataFrame) -> pd.DataFrame:
    """Demographic and spending segments a marketer reads without a model.

    Age band, income quartile, family, dominant spending category, preferred channel and spend
    tier (tercile of total spend). Missing age or income stays "Unknown".
    """
    age_band = pd.cut(features["age"], [0, 35, 50, 65, 200],
                      labels=["under 35", "35-49", "50-64", "65+"], right=False)
    income_band = pd.qcut(features["income"], 4, labels=["low", "lower-mid", "upper-mid", "high"])
    category_shares = features[[f"share_{c.removeprefix('amount_')}" for c in CATEGORY_COLUMNS]]
    channel_shares = features[[f"share_{c}" for c in CHANNEL_COLUMNS]]
    spend_tier = pd.qcut(features["total_spend"].rank(method="first"), 3,
                         labels=["low spend", "mid spend", "high spend"])
    return pd.DataFrame({
        "age_band": age_band.astype(object).fillna("Unknown"),
        "income_band": income_band.astype(object).fillna("Unknown"),
        "family": np.where(features["children"] > 0, "with children", "no children"),
        "main_category": _largest_share(category_shares).str.removeprefix("share_"),
        "main_channel": _largest_share(channel_shares).str.removeprefix("share_")
        .str.removesuffix("_purchases"),
        "spend_tier": spend_tier.astype(str),
    }, index=features.index)


class CampaignResponseModel:
    """Logistic regression on profile features predicting the last campaign's response."""

    name = "campaign_response_logistic"
    categorical = ("education", "marital_status")

    def __init__(self, c: float = 0.5, random_state: int = 0) -> None:
        self.c = c
        self.random_state = random_state

    def _estimator(self, columns: list[str]) -> Any:
        numeric = [c for c in columns if c not in self.categorical]
        prepare = ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(self.categorical)),
        ])
        return make_pipeline(prepare, LogisticRegression(C=self.c, max_iter=2000))

    def fit(self, features: pd.DataFrame, target: pd.Series | None = None) -> Self:
        if target is None:
            raise ValueError("CampaignResponseModel.fit needs target: customer_profiles.responded")
        self.columns_ = list(features.columns)
        self.model_ = self._estimator(self.columns_).fit(features, target.reindex(features.index))
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(self.model_.predict_proba(features[self.columns_])[:, 1],
                         index=features.index, name="response_probability")

    def validation_auc(self, features: pd.DataFrame, target: pd.Series, folds: int = 5) -> float:
        """Out-of-fold ROC AUC by stratified k-fold (no customer scored by a model it trained)."""
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        out_of_fold = cross_val_predict(self._estimator(list(features.columns)), features,
                                        target.reindex(features.index), cv=splitter,
                                        method="predict_proba")[:, 1]
        return float(roc_auc_score(target.reindex(features.index), out_of_fold))

    def params(self) -> dict[str, Any]:
        return {"c": self.c, "random_state": self.random_state}


def score_clusters(features: pd.DataFrame, version: str, scored_at: pd.Timestamp,
                   as_of_date: pd.Timestamp, k_range: Iterable[int] = range(2, 9)) -> pd.DataFrame:
    """Cluster rows of ``customer_segments``: customer_id, cluster, cluster_label, the chosen
    number of clusters and its silhouette (kept on every row so the run explains itself), and the
    score metadata."""
    clusters, k, silhouettes = choose_k_and_cluster(features, k_range=k_range)
    profiles = cluster_profiles(features, clusters)
    profiles["cluster_label"] = label_clusters(profiles, features)
    rows = pd.DataFrame({"cluster": clusters,
                         "cluster_label": clusters.map(profiles["cluster_label"]),
                         "cluster_count": k, "silhouette": float(silhouettes[k])})
    rows = add_score_metadata(rows, "customer_kmeans", version, scored_at, as_of_date)
    return rows.rename_axis("customer_id").reset_index()
