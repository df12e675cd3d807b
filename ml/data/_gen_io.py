"""Random streams and part-file writing shared by the generator's modules."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# one random stream per part of the shop, so changing one part leaves the others unchanged
CATALOGUE_STREAM, CUSTOMER_STREAM, LINES_STREAM, QUIRKS_STREAM, PROFILES_STREAM, EVENTS_STREAM = range(6)


def random_stream(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def clear_parts(folder: Path) -> None:
    """Create `folder` and remove its part files, so a smaller shop leaves no stale parts."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*.parquet"):
        stale.unlink()


def write_part(table: pa.Table, folder: Path, index: int) -> None:
    pq.write_table(table, folder / f"part-{index:05d}.parquet", compression="snappy")
