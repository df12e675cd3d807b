"""Content-based: products are similar when their descriptions, category and brand are.

It needs no purchase history for an item, so it serves the cold start: a product nobody bought
yet still has similar items, and can be recommended to customers who bought related products.
"""

import re

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ml.recommenders.base import Recommender
from ml.recommenders.interactions import InteractionMatrix, require_columns
from ml.recommenders.similarity import similar_items_frame

PRODUCT_COLUMNS = ["product_id", "description", "category", "brand"]


def product_text(products: pd.DataFrame) -> pd.Series:
    """One document per product: its description, plus category and brand as single tokens.

    A dotted category such as ``electronics.audio.headphone`` yields one token per level, so two
    headphones share three tokens and a headphone and a speaker share two.
    """
    def tokens(value, prefix: str) -> str:
        if value is None or pd.isna(value):
            return ""
        levels = [re.sub(r"\W+", "_", part.strip().lower()) for part in str(value).split(".")]
        return " ".join(f"{prefix}_{'_'.join(levels[:depth])}"
                        for depth in range(1, len(levels) + 1))

    descriptions = products["description"].fillna("").astype(str).str.lower()
    categories = products["category"].map(lambda value: tokens(value, "category"))
    brands = products["brand"].map(lambda value: tokens(value, "brand"))
    return descriptions + " " + categories + " " + brands


class ContentBasedRecommender(Recommender):
    """TF-IDF over :func:`product_text`; a customer's profile is the purchase-weighted mean of the
    vectors of what they bought, and items are scored by cosine similarity to that profile."""

    name = "content_based"

    def __init__(self, products: pd.DataFrame):
        require_columns(products, PRODUCT_COLUMNS, "products")
        self.products = products.drop_duplicates("product_id")

    def _item_space(self, interactions: pd.DataFrame) -> np.ndarray:
        catalogue = set(self.products["product_id"]) | set(interactions["product_id"])
        return np.array(sorted(catalogue), dtype=object)

    def _fit(self, matrix: InteractionMatrix) -> None:
        texts = (product_text(self.products).set_axis(self.products["product_id"])
                 .reindex(matrix.item_ids).fillna(""))
        vectoriser = TfidfVectorizer(sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w\w+\b")
        if texts.str.strip().eq("").all():
            raise ValueError("products has no description, category or brand text at all; "
                             "the content-based model needs at least one of these columns filled.")
        self.item_vectors_ = vectoriser.fit_transform(texts.to_numpy()).astype(np.float32).tocsr()

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        profiles = self.matrix_.weights[rows] @ self.item_vectors_
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        profiles = sparse.diags(inverse.astype(np.float32)) @ profiles
        return (profiles @ self.item_vectors_.T).toarray().astype(np.float32)

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar catalogue products by text, bought or not."""
        self._check_fitted()
        vectors = self.item_vectors_
        return similar_items_frame(lambda columns: (vectors @ vectors[columns].T).toarray(),
                                   self.item_ids, product_ids, k)
