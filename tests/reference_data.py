"""A pandas reading of UCI Online Retail into the warehouse's order-line shape.

It is the reference the warehouse's `fct_order_lines` is cross-checked against, and lets model
tests run on real data without building the warehouse first. Cleaning follows the documented
rules: known customers only, exact duplicates removed, non-product codes and non-positive prices
left out; cancellations stay, flagged, with negative quantities. ``country`` is the raw
Country, trimmed (null when empty), as the warehouse's ``fct_order_lines`` carries it.
"""

from pathlib import Path

import pandas as pd

NON_PRODUCT_CODES = {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE", "CRUK", "C2", "PADS", "S",
                     "B", "D"}


def uci_order_lines(path: Path) -> pd.DataFrame:
    raw = pd.read_parquet(path).drop_duplicates()
    raw = raw[raw["CustomerID"].notna() & ~raw["StockCode"].isin(NON_PRODUCT_CODES)
              & (raw["UnitPrice"] > 0) & (raw["Quantity"] != 0)]
    is_cancellation = raw["InvoiceNo"].str.startswith("C")
    raw = raw[is_cancellation | (raw["Quantity"] > 0)]
    return pd.DataFrame({
        "customer_id": "online_retail:" + raw["CustomerID"].astype("int64").astype(str),
        "order_id": "online_retail:" + raw["InvoiceNo"],
        "product_id": "online_retail:" + raw["StockCode"],
        "ordered_at": pd.to_datetime(raw["InvoiceDate"]),
        "quantity": raw["Quantity"].astype("int64"),
        "unit_price": raw["UnitPrice"].astype("float64"),
        "line_amount": (raw["Quantity"] * raw["UnitPrice"]).astype("float64"),
        "is_cancellation": is_cancellation[raw.index],
        # as the warehouse's stage_invoice_lines: trimmed, empty text is no country
        "country": raw["Country"].astype("string").str.strip().replace("", pd.NA),
    }).reset_index(drop=True)


def uci_products(path: Path) -> pd.DataFrame:
    raw = pd.read_parquet(path, columns=["StockCode", "Description", "UnitPrice"])
    raw = raw[~raw["StockCode"].isin(NON_PRODUCT_CODES) & (raw["UnitPrice"] > 0)]
    grouped = raw.groupby("StockCode").agg(
        description=("Description", lambda s: s.mode().iloc[0] if s.notna().any() else None),
        unit_price=("UnitPrice", "median"),
    )
    return pd.DataFrame({
        "product_id": "online_retail:" + grouped.index,
        "description": grouped["description"].to_numpy(),
        "category": None,
        "brand": None,
        "unit_price": grouped["unit_price"].to_numpy(),
    })
