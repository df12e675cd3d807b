"""A deterministic generator of a realistic shop, written in the raw formats of the public data.

`generate_shop(raw_dir, scale, seed)` writes three kinds of raw input (see `ml.data.formats`):

- ``online_retail_ii/``: invoice lines of a UK gift wholesaler shaped like UCI Online Retail
  (BG/NBD-like customers, seasonality, skewed popularity, repertoires, companions, and its dirt);
- ``events/``: a separate multi-category storefront's clickstream, shaped like the REES46 log;
- ``customer_profiles/``: "Customer Personality Analysis" rows whose Response is learnable.

Scale 1 is the size of the real shop; rows grow linearly with `scale` and are generated block by
block with one random stream per block, so memory stays flat and the same seed and scale give
byte-identical files whatever the grouping of blocks into part files.
`profile_invoice_lines` and `profile_events` measure the figures of PROFILE.md on any such data.
"""

import time
from pathlib import Path

import numpy as np

from ml.data import _gen_retail as retail
from ml.data._gen_catalog import Catalogue, build_catalogue, product_count
from ml.data._gen_events import write_events
from ml.data._gen_io import (CATALOGUE_STREAM, CUSTOMER_STREAM, LINES_STREAM, PROFILES_STREAM,
                             QUIRKS_STREAM, clear_parts, random_stream, write_part)
from ml.data._gen_personality import customer_profiles
from ml.data._gen_profiling import profile_customer_profiles, profile_events, profile_invoice_lines
from ml.data._gen_retail_lines import ItemTable, block_lines, lines_table
from ml.data._gen_retail_quirks import quirk_lines, quirk_table
from ml.data.formats import CUSTOMER_PROFILES, EVENTS, ONLINE_RETAIL_II

__all__ = ["generate_shop", "profile_invoice_lines", "profile_events", "profile_customer_profiles"]

RETAIL_BLOCKS_PER_PART = 4


def generate_shop(raw_dir: Path, scale: float = 1.0, seed: int = 42) -> dict:
    """Write a generated shop under `raw_dir` and return a summary of what was written.

    Existing ``part-*.parquet`` files of the three folders are replaced. The summary holds rows
    per kind, customers, products, date ranges and the seconds taken.
    """
    if not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}; 1.0 is the real shop's size")
    raw_dir = Path(raw_dir)
    started = time.perf_counter()
    summary = {"scale": scale, "seed": seed}
    summary["online_retail_ii"] = write_online_retail(raw_dir / ONLINE_RETAIL_II.folder, scale, seed)
    summary["events"] = write_events(raw_dir / EVENTS.folder, scale, seed)
    summary["customer_profiles"] = write_customer_profiles(raw_dir / CUSTOMER_PROFILES.folder,
                                                           scale, seed)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def write_online_retail(folder: Path, scale: float, seed: int,
                        blocks_per_part: int = RETAIL_BLOCKS_PER_PART) -> dict:
    """Invoice lines in part files of `blocks_per_part` customer blocks, then one of quirk lines."""
    clear_parts(folder)
    catalogue = build_catalogue(product_count(scale), random_stream(seed, CATALOGUE_STREAM))
    calendar = retail.retail_calendar()
    rng = random_stream(seed, CUSTOMER_STREAM)
    customers, owner, times, is_top_up = retail.draw_customers(
        retail.customer_count(scale), calendar, len(catalogue.theme_share), catalogue.theme_share, rng)
    n_customers = len(customers)
    invoices = retail.draw_invoices(n_customers, owner, times, is_top_up, customers, calendar, rng)
    quirks = quirk_lines(customers, catalogue, calendar, random_stream(seed, QUIRKS_STREAM))
    invoices, quirk_numbers = retail.number_invoices(invoices, quirks["timestamp"])
    items = ItemTable.of(catalogue)

    n_blocks = -(-n_customers // retail.CUSTOMERS_PER_BLOCK)
    n_guests = len(invoices.unit) - len(owner)
    # guest orders are spread evenly over the blocks
    block_start_unit = np.arange(n_blocks + 1) * retail.CUSTOMERS_PER_BLOCK
    block_start_unit[-1] = n_customers
    guest_start = n_customers + (np.arange(n_blocks + 1) * n_guests) // n_blocks
    rows, parts = 0, 0
    for first_block in range(0, n_blocks, blocks_per_part):
        blocks = range(first_block, min(first_block + blocks_per_part, n_blocks))
        lines = [_block(invoices, b, block_start_unit, guest_start, customers, n_customers,
                        catalogue, items, seed) for b in blocks]
        table = lines_table({column: np.concatenate([block[column] for block in lines])
                             for column in lines[0]}, items)
        write_part(table, folder, parts)
        rows, parts = rows + table.num_rows, parts + 1
    quirk_part = quirk_table(quirks, quirk_numbers)
    write_part(quirk_part, folder, parts)
    return {
        "rows": rows + quirk_part.num_rows,
        "files": parts + 1,
        "customers": n_customers,
        "products": len(catalogue),
        "invoices": len(invoices.unit) + int((invoices.cancel_lines > 0).sum()) + len(quirk_numbers),
        "first_invoice_at": str(min(invoices.timestamp.min(), quirks["timestamp"].min())),
        "last_invoice_at": str(max(invoices.timestamp.max(), quirks["timestamp"].max(),
                                   invoices.cancel_timestamp[invoices.cancel_lines > 0].max())),
    }


def _block(invoices: retail.Invoices, block: int, block_start_unit: np.ndarray,
           guest_start: np.ndarray, customers: retail.Customers, n_customers: int,
           catalogue: Catalogue,
           items: ItemTable, seed: int) -> dict[str, np.ndarray]:
    """Lines of one block: its customers' invoices and its share of guest orders."""
    registered = slice(*np.searchsorted(invoices.unit, block_start_unit[block:block + 2]))
    guests = slice(*np.searchsorted(invoices.unit, guest_start[block:block + 2]))
    selected = np.r_[registered, guests]
    block_invoices = retail.Invoices(*(getattr(invoices, field)[selected]
                                       for field in retail.Invoices.__dataclass_fields__))
    return block_lines(block_invoices, customers, n_customers, catalogue, items,
                       random_stream(seed, LINES_STREAM, block))


def write_customer_profiles(folder: Path, scale: float, seed: int) -> dict:
    clear_parts(folder)
    table = customer_profiles(scale, random_stream(seed, PROFILES_STREAM))
    write_part(table, folder, 0)
    return {"rows": table.num_rows}
