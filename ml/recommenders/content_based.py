"""Content-based: products are similar when their descriptions, category and brand are.

It needs no purchase history for an item, so it serves the cold start: a product nobody bought
yet still has similar items, and can be recommended to customers who bought related products.
"""

import re
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ml.recommenders.base import CELLS_PER_BATCH, DenseBlock, Recommender, ScoreBlock, \
    dense_item_space, row_stable_product
from ml.recommenders.interactions import InteractionMatrix, require_columns
from ml.recommenders.similarity import similar_items_frame

PRODUCT_COLUMNS = ["product_id", "description", "category", "brand"]
# Most cells of the searched items' vectors held as a dense array (64 MB of float32)
DENSE_VECTOR_CELLS = 16_000_000
# ...held, for sparse profiles, in C-ordered column blocks of at most this many cells (2 MB, a
# core's L2 cache here): a batch's sparse profiles read the same few word rows of a block for
# every customer, so each block stays in cache while the batch is scored against it. The score
# blocks of 20,000 customers of the generated 42M shop's event source (939 words, 10,000 items)
# took 0.63-0.70 s on one thread, the same scores; 0.80-0.82 s as one C-ordered array, and
# 1.00-1.22 s as the Fortran-ordered array scipy's toarray gives, which scipy copied every batch.
VECTOR_BLOCK_CELLS = 512 * 1024
# Customer profiles at least this full (share of the vocabulary, measured on PROFILE_SAMPLE
# customers when fitting) are scored as dense arrays, by BLAS: on one core, 400 profiles by
# 10,000 dense item vectors took 9 ms dense against 56 ms sparse with 80 of 177 words filled
# (the median of the generated wholesale shop at 42M events), 50 against 57 ms with 60 of 939,
# and 61 against 12 ms with 10 of 939 (the event shop's median is 8)
DENSE_PROFILE_SHARE = 0.1
PROFILE_SAMPLE = 10_000


class SearchSpace(NamedTuple):
    """The items a customer's best are searched among (``columns``) and their TF-IDF vectors,
    transposed (vocabulary x columns): sparse, or dense in blocks of consecutive columns."""
    columns: np.ndarray
    vectors_t: tuple[np.ndarray, ...] | sparse.csr_matrix


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

    def _item_space(self, interacted_items: np.ndarray) -> np.ndarray:
        return np.union1d(self.products["product_id"].to_numpy(dtype=object), interacted_items)

    def _fit(self, matrix: InteractionMatrix) -> None:
        texts = (product_text(self.products).set_axis(self.products["product_id"])
                 .reindex(matrix.item_ids).fillna(""))
        vectoriser = TfidfVectorizer(sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w\w+\b")
        if texts.str.strip().eq("").all():
            raise ValueError("products has no description, category or brand text at all; "
                             "the content-based model needs at least one of these columns filled.")
        self.item_vectors_ = vectoriser.fit_transform(texts.to_numpy()).astype(np.float32).tocsr()
        # best items are searched among the most interacted (every item of a catalogue of at
        # most MAX_DENSE_ITEMS, so a product nobody bought can still be recommended there)
        self.dense_columns_ = dense_item_space(matrix)
        self.dense_profiles_ = profile_share(matrix.weights, self.item_vectors_) \
            >= DENSE_PROFILE_SHARE
        self._dense_space = self.search_space(self.dense_columns_)

    def search_space(self, columns: np.ndarray) -> SearchSpace:
        """The items at ``columns`` as a :class:`SearchSpace`. Their vectors are held dense when
        that is at most ``DENSE_VECTOR_CELLS`` cells (a 939-word vocabulary by 10,000 items in
        the generated event shop at 42M events): the scores of a batch are dense anyway, and a
        sparse-by-dense product made them 2 to 6 times faster than a sparse one there. For
        sparse profiles dense vectors are split into blocks of ``VECTOR_BLOCK_CELLS``; dense
        profiles are multiplied by BLAS, which blocks the product itself."""
        vectors_t = self.item_vectors_[columns].T
        words, items = vectors_t.shape
        if words * items > DENSE_VECTOR_CELLS:
            return SearchSpace(columns, vectors_t.tocsr())
        dense = vectors_t.toarray()
        width = items if self.dense_profiles_ else max(1, VECTOR_BLOCK_CELLS // max(words, 1))
        return SearchSpace(columns, tuple(np.ascontiguousarray(dense[:, start:start + width])
                                          for start in range(0, items, width)))

    def score_block(self, rows: np.ndarray, space: SearchSpace | None = None) -> ScoreBlock:
        """Scores of the customers at ``rows``; their best items are searched among
        ``dense_columns_`` (or among ``space``, from :meth:`search_space`, when given)."""
        profiles = self.matrix_.weights[rows] @ self.item_vectors_
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        profiles = sparse.csr_matrix(sparse.diags(inverse.astype(np.float32)) @ profiles)
        columns, vectors_t = self._dense_space if space is None else space

        def pair_scores(positions: np.ndarray, items: np.ndarray) -> np.ndarray:
            return np.asarray(profiles[positions].multiply(self.item_vectors_[items])
                              .sum(axis=1), dtype=np.float32).ravel()

        if sparse.issparse(vectors_t):
            scores = (profiles @ vectors_t).toarray().astype(np.float32, copy=False)
        else:
            # full profiles are multiplied dense, by BLAS (DENSE_PROFILE_SHARE)
            batch_profiles = profiles.toarray() if self.dense_profiles_ else profiles
            scores = np.empty((len(rows), len(columns)), dtype=np.float32)
            start = 0
            for block in vectors_t:
                scores[:, start:start + block.shape[1]] = (
                    row_stable_product(batch_profiles, block) if self.dense_profiles_
                    else batch_profiles @ block)
                start += block.shape[1]
        return DenseBlock(scores, columns, len(self.item_ids), pair_scores)

    def batch_size(self) -> int:
        return max(1, CELLS_PER_BATCH // len(self.dense_columns_))

    def similar_items(self, product_ids, k: int = 10) -> pd.DataFrame:
        """Each product's k most similar products by text, bought or not, among the catalogue
        (among the ``MAX_DENSE_ITEMS`` most interacted products of a larger one)."""
        self._check_fitted()
        vectors = self.item_vectors_
        candidates = vectors[self.dense_columns_]
        return similar_items_frame(lambda columns: (candidates @ vectors[columns].T).toarray(),
                                   self.item_ids, product_ids, k, self.dense_columns_)


def profile_share(weights: sparse.csr_matrix, item_vectors: sparse.csr_matrix) -> float:
    """The share of the vocabulary a customer's profile fills, on average over at most
    ``PROFILE_SAMPLE`` customers with a history, evenly spaced (the same ones on every call)."""
    with_history = np.flatnonzero(np.diff(weights.indptr) > 0)
    if not len(with_history) or not item_vectors.shape[1]:
        return 0.0
    step = max(1, len(with_history) // PROFILE_SAMPLE)
    profiles = weights[with_history[::step][:PROFILE_SAMPLE]] @ item_vectors
    return profiles.nnz / (profiles.shape[0] * profiles.shape[1])
