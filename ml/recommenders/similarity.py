"""Item-to-item similarity helpers shared by the neighbourhood and content models."""

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

SIMILAR_ITEM_COLUMNS = ["product_id", "rank", "similar_product_id", "score"]
ITEM_CHUNK_SIZE = 1_000


def top_k_per_column(similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and values of the k largest entries of each column of a dense block."""
    k = min(k, similarity.shape[0])
    rows = np.argpartition(-similarity, k - 1, axis=0)[:k]
    return rows, np.take_along_axis(similarity, rows, axis=0)


def pruned_cosine(vectors: sparse.csr_matrix, neighbours: int) -> sparse.csc_matrix:
    """Cosine similarity between the columns of ``vectors``, keeping each column's top neighbours.

    Computed a chunk of columns at a time so memory stays at items x chunk, not items x items.
    The diagonal (an item with itself) is left out.
    """
    vectors = sparse.csc_matrix(vectors, dtype=np.float32)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=0)).ravel())
    inverse_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    normalised = vectors @ sparse.diags(inverse_norms.astype(np.float32))
    transposed = normalised.T.tocsr()
    n_items = vectors.shape[1]
    rows, cols, values = [], [], []
    for start in range(0, n_items, ITEM_CHUNK_SIZE):
        stop = min(start + ITEM_CHUNK_SIZE, n_items)
        block = (transposed @ normalised[:, start:stop]).toarray()
        block[np.arange(start, stop), np.arange(stop - start)] = 0.0
        top_rows, top_values = top_k_per_column(block, neighbours)
        keep = top_values > 0
        rows.append(top_rows[keep])
        cols.append(np.broadcast_to(np.arange(start, stop), top_rows.shape)[keep])
        values.append(top_values[keep])
    return sparse.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_items, n_items), dtype=np.float32)


def similar_items_frame(similarity_columns: Callable[[np.ndarray], np.ndarray],
                        item_ids: np.ndarray, product_ids, k: int) -> pd.DataFrame:
    """The k most similar items of each product.

    ``similarity_columns(columns)`` returns the dense items x len(columns) block of similarities
    of those items to every item; it is called a chunk of products at a time. Products outside
    ``item_ids`` get no rows.
    """
    product_ids = np.asarray(pd.unique(pd.Series(product_ids, dtype=object)), dtype=object)
    columns = pd.Index(item_ids).get_indexer(product_ids)
    known = columns >= 0
    frames = []
    for start in range(0, int(known.sum()), ITEM_CHUNK_SIZE):
        chunk = columns[known][start:start + ITEM_CHUNK_SIZE]
        block = np.array(similarity_columns(chunk), dtype=np.float32)
        block[chunk, np.arange(len(chunk))] = 0.0
        top_rows, top_values = top_k_per_column(block, k)
        order = np.argsort(-top_values, axis=0, kind="stable")
        top_rows = np.take_along_axis(top_rows, order, axis=0)
        top_values = np.take_along_axis(top_values, order, axis=0)
        ranks = np.broadcast_to(np.arange(1, top_rows.shape[0] + 1)[:, None], top_rows.shape)
        keep = top_values > 0
        frames.append(pd.DataFrame({
            "product_id": np.broadcast_to(product_ids[known][start:start + ITEM_CHUNK_SIZE],
                                          top_rows.shape)[keep],
            "rank": ranks[keep].astype("int64"),
            "similar_product_id": item_ids[top_rows[keep]],
            "score": top_values[keep].astype("float64"),
        }))
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in SIMILAR_ITEM_COLUMNS})
    # frames are column-major (rank-major); sort so each product's neighbours sit together
    return (pd.concat(frames, ignore_index=True)
            .sort_values(["product_id", "rank"], kind="stable").reset_index(drop=True))


def sparse_columns(similarity: sparse.spmatrix) -> Callable[[np.ndarray], np.ndarray]:
    """A ``similarity_columns`` function reading the columns of a sparse similarity matrix."""
    by_column = sparse.csc_matrix(similarity)
    return lambda columns: by_column[:, columns].toarray()
