"""Item-to-item similarity helpers shared by the neighbourhood and content models."""

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommenders.base import in_threads, top_k_csr, top_k_dense, within_row_rank

SIMILAR_ITEM_COLUMNS = ["product_id", "rank", "similar_product_id", "score"]
ITEM_CHUNK_SIZE = 1_000
# A block of similarities at least this full is ranked dense (see pruned_cosine)
DENSE_BLOCK_SHARE = 0.25


def top_k_per_column(similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and values of the k largest entries of each column of a dense block."""
    k = min(k, similarity.shape[0])
    rows = np.argpartition(-similarity, k - 1, axis=0)[:k]
    return rows, np.take_along_axis(similarity, rows, axis=0)


def pruned_cosine(vectors: sparse.csr_matrix, neighbours: int) -> sparse.csc_matrix:
    """Cosine similarity between the columns of ``vectors``, keeping each column's top neighbours.

    Computed a chunk of columns at a time, and kept sparse: the cost follows the co-occurrences
    (items sharing a customer), not items x items. The diagonal (an item with itself) is left out.
    Ties go to the lower item index.
    """
    return pruned_cosine_and_gram(vectors, neighbours, None)[0]


def pruned_cosine_and_gram(vectors: sparse.csr_matrix, neighbours: int,
                           gram_columns: np.ndarray | None
                           ) -> tuple[sparse.csc_matrix, np.ndarray | None]:
    """:func:`pruned_cosine`, and the dot products of the columns at ``gram_columns`` (sorted)
    with each other (dense, float32), taken from the same products: for who-bought-what, the
    co-occurrence counts EASE inverts, which cost it a second pass over every customer's item
    pairs (ml.recommenders.hybrid fits the two models so)."""
    by_row = sparse.csr_matrix(vectors, dtype=np.float32)
    vectors = by_row.tocsc()
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=0)).ravel())
    inverse_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    n_items = vectors.shape[1]
    # a block holds at most chunk x items similarities (4M: 16 MB of float32)
    chunk_size = max(1, min(ITEM_CHUNK_SIZE, 4_000_000 // max(n_items, 1)))
    gram, gram_position = None, None
    if gram_columns is not None:
        # pairs that never share a customer are in no block: they stay 0
        gram = np.zeros((len(gram_columns), len(gram_columns)), dtype=np.float32)
        gram_position = np.full(n_items, -1, dtype=np.int64)
        gram_position[gram_columns] = np.arange(len(gram_columns))

    def chunk_neighbours(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stop = min(start + chunk_size, n_items)
        # row j of block: dot products of item start + j with every item
        block = vectors[:, start:stop].T.tocsr() @ by_row
        rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        if gram is not None:  # each chunk fills its own rows of the gram
            in_gram = gram_position[start + rows] >= 0
            columns = gram_position[block.indices]
            in_gram &= columns >= 0
            gram[gram_position[start + rows[in_gram]], columns[in_gram]] = block.data[in_gram]
        block.data *= inverse_norms[start + rows] * inverse_norms[block.indices]
        # the diagonal and non-positive entries dropped in place: rebuilding the block from
        # coordinates sorted every row again (a tenth of item-kNN's fit at 42M events)
        block.data[(rows + start == block.indices) | ~(block.data > 0)] = 0
        if block.nnz >= DENSE_BLOCK_SHARE * block.shape[0] * block.shape[1]:
            # most items share a customer with most others (the wholesale source): a dense
            # block's top-k takes a few passes, where the sparse one sorts every row's entries
            positions, neighbour, similarity = top_k_dense(block.toarray(), neighbours, 0.0)
        else:
            block.eliminate_zeros()
            positions, neighbour, similarity = top_k_csr(block, neighbours)
        return neighbour, positions + start, similarity

    # the chunks are independent: on every core (the hybrid fits item-kNN beside its other
    # components, which finish first at scale)
    rows, cols, values = zip(*in_threads(chunk_neighbours, range(0, n_items, chunk_size)))
    similarity = sparse.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items), dtype=np.float32)
    return similarity, gram


def similar_items_from_sparse(similarity: sparse.spmatrix, item_ids: np.ndarray, product_ids,
                              k: int) -> pd.DataFrame:
    """The k most similar items of each product from a sparse item x item similarity (column j:
    the similarities of every item to item j). Products outside ``item_ids`` get no rows."""
    product_ids = np.asarray(pd.unique(pd.Series(product_ids, dtype=object)), dtype=object)
    columns = pd.Index(item_ids).get_indexer(product_ids)
    known = columns >= 0
    by_product = sparse.csr_matrix(sparse.csc_matrix(similarity)[:, columns[known]].T)
    coo = by_product.tocoo()
    keep = (coo.col != columns[known][coo.row]) & (coo.data > 0)
    by_product = sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])),
                                   shape=by_product.shape)
    positions, neighbour, score = top_k_csr(by_product, k)
    if len(positions) == 0:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in SIMILAR_ITEM_COLUMNS})
    frame = pd.DataFrame({
        "product_id": product_ids[known][positions],
        "rank": (within_row_rank(positions) + 1).astype("int64"),
        "similar_product_id": item_ids[neighbour],
        "score": score.astype("float64"),
    })
    return frame.sort_values(["product_id", "rank"], kind="stable").reset_index(drop=True)


def similar_items_frame(similarity_columns: Callable[[np.ndarray], np.ndarray],
                        item_ids: np.ndarray, product_ids, k: int,
                        candidates: np.ndarray | None = None) -> pd.DataFrame:
    """The k most similar items of each product.

    ``similarity_columns(columns)`` returns the dense block of similarities of the candidate items
    (``candidates``, sorted item indices; None = every item) to the items at ``columns``,
    candidates x len(columns); it is called a chunk of products at a time. Products outside
    ``item_ids`` get no rows.
    """
    candidates = np.arange(len(item_ids)) if candidates is None else np.asarray(candidates)
    candidate_of = np.full(len(item_ids), -1, dtype=np.int64)
    candidate_of[candidates] = np.arange(len(candidates))
    product_ids = np.asarray(pd.unique(pd.Series(product_ids, dtype=object)), dtype=object)
    columns = pd.Index(item_ids).get_indexer(product_ids)
    known = columns >= 0
    frames = []
    for start in range(0, int(known.sum()), ITEM_CHUNK_SIZE):
        chunk = columns[known][start:start + ITEM_CHUNK_SIZE]
        block = np.array(similarity_columns(chunk), dtype=np.float32)
        itself = candidate_of[chunk]
        block[itself[itself >= 0], np.arange(len(chunk))[itself >= 0]] = 0.0
        top_rows, top_values = top_k_per_column(block, k)
        top_rows = candidates[top_rows]
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
