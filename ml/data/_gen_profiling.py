"""The figures of PROFILE.md, measured on real or generated raw data with the same definitions.

Clean purchases are lines with a known customer, not on a cancellation ("C") invoice, with
quantity > 0 and price > 0; every per-customer, per-invoice and per-item figure uses them.
"""

from pathlib import Path

import numpy as np
import pandas as pd

QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90, "p99": 0.99}
# UCI Online Retail (v1) spells three columns differently from Online Retail II
V1_TO_V2 = {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _quantiles(values: pd.Series | np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {name: float(np.quantile(array, QUANTILES[name])) for name in names}


def _read(source: pd.DataFrame | Path | str, **csv_options) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if path.suffix == ".csv":
        return pd.read_csv(path, **csv_options)
    return pd.read_parquet(path)


def profile_invoice_lines(source: pd.DataFrame | Path | str) -> dict:
    """PROFILE.md's Online Retail figures for a DataFrame, a parquet file or a folder of parts.

    Accepts both the Online Retail (InvoiceNo, UnitPrice, CustomerID) and the Online Retail II
    (Invoice, Price, Customer ID) column names.
    """
    lines = _read(source).rename(columns=V1_TO_V2)
    missing = {"Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID",
               "Country"} - set(lines.columns)
    if missing:
        raise ValueError(f"invoice lines lack columns {sorted(missing)}; expected the Online Retail "
                         "(II) columns of ml.data.formats")
    dates = pd.to_datetime(lines["InvoiceDate"])
    is_cancellation = lines["Invoice"].str.startswith("C")
    clean_mask = (lines["Customer ID"].notna() & ~is_cancellation & (lines["Quantity"] > 0)
                  & (lines["Price"] > 0))
    clean = lines[clean_mask].assign(InvoiceDate=dates[clean_mask])
    invoice_dates = clean.groupby("Invoice")["InvoiceDate"].min()
    invoices_per_customer = clean.groupby("Customer ID")["Invoice"].nunique()
    item_lines = clean["StockCode"].value_counts().to_numpy()
    by_month = invoice_dates.dt.to_period("M").astype(str).value_counts().sort_index()
    january, november = _month_of_peak_year(by_month)
    return {
        "raw_lines": len(lines),
        "invoices": lines["Invoice"].nunique(),
        "customers": lines["Customer ID"].nunique(),
        "stock_codes": lines["StockCode"].nunique(),
        "first_invoice_at": str(dates.min()),
        "last_invoice_at": str(dates.max()),
        "cancellation_line_share": float(is_cancellation.mean()),
        "negative_quantity_share": float((lines["Quantity"] < 0).mean()),
        "no_customer_share": float(lines["Customer ID"].isna().mean()),
        "nonpositive_price_share": float((lines["Price"] <= 0).mean()),
        "duplicate_lines": int(lines.duplicated().sum()),
        "mojibake_descriptions": int(lines["Description"].str.contains("\u00c2\u00a3", na=False).sum()),
        "max_quantity": int(lines["Quantity"].max()),
        "invoices_per_customer": _quantiles(invoices_per_customer, tuple(QUANTILES)),
        "single_invoice_customer_share": float((invoices_per_customer == 1).mean()),
        "lines_per_invoice": _quantiles(clean.groupby("Invoice").size(), tuple(QUANTILES)),
        "invoice_value": _quantiles((clean["Quantity"] * clean["Price"]).groupby(clean["Invoice"]).sum(),
                                    ("p10", "p50", "p90", "p99")),
        "unit_price": _quantiles(clean["Price"], ("p10", "p50", "p90", "p99")),
        "quantity": _quantiles(clean["Quantity"], ("p10", "p50", "p90", "p99")),
        "top_item_line_share": _top_shares(item_lines),
        "popularity_slope": _popularity_slope(item_lines),
        "days_between_invoices": _days_between_invoices(clean),
        "invoices_by_month": by_month.to_dict(),
        "november_to_january": november / january if january else float("nan"),
        "invoices_by_weekday": {day: int((invoice_dates.dt.day_of_week == i).sum())
                                for i, day in enumerate(WEEKDAYS)},
        "first_hour": int(dates.dt.hour.min()),
        "last_hour": int(dates.dt.hour.max()),
        "customers_by_country": clean.groupby("Country")["Customer ID"].nunique()
        .sort_values(ascending=False).to_dict(),
    }


def _month_of_peak_year(by_month: pd.Series) -> tuple[int, int]:
    """Clean invoices in January and November of the last year holding both."""
    years = sorted({month[:4] for month in by_month.index}, reverse=True)
    for year in years:
        if f"{year}-01" in by_month.index and f"{year}-11" in by_month.index:
            return int(by_month[f"{year}-01"]), int(by_month[f"{year}-11"])
    return 0, 0


def _top_shares(item_lines: np.ndarray) -> dict[str, float]:
    """Share of clean lines on the top 1/10/20% of items (items ranked by lines)."""
    total = item_lines.sum()
    return {f"top_{percent}pct": float(item_lines[:max(1, round(len(item_lines) * percent / 100))]
                                        .sum() / total) for percent in (1, 10, 20)}


def _popularity_slope(item_lines: np.ndarray) -> float:
    """Slope of log(lines) on log(rank) over ranks 10 to 1,000."""
    last = min(1_000, len(item_lines))
    ranks = np.arange(10, last + 1)
    return float(np.polyfit(np.log(ranks), np.log(item_lines[9:last]), 1)[0])


def _days_between_invoices(clean: pd.DataFrame) -> dict[str, float]:
    """Days (fractional) between a customer's consecutive clean invoices."""
    starts = clean.groupby(["Customer ID", "Invoice"])["InvoiceDate"].min().reset_index()
    starts = starts.sort_values(["Customer ID", "InvoiceDate"])
    gaps = starts.groupby("Customer ID")["InvoiceDate"].diff().dropna().dt.total_seconds() / 86_400
    return _quantiles(gaps, ("p25", "p50", "p75", "p90"))


def profile_events(source: pd.DataFrame | Path | str) -> dict:
    """PROFILE.md's event-log figures for a DataFrame, the real CSV sample or a folder of parts.

    Rows without a user_session (the real sample's truncated last line) are left out.
    """
    events = _read(source, dtype={"category_code": "string", "brand": "string"})
    missing = {"event_time", "event_type", "product_id", "category_code", "brand", "price",
               "user_id", "user_session"} - set(events.columns)
    if missing:
        raise ValueError(f"events lack columns {sorted(missing)}; expected the columns of "
                         "ml.data.formats.EVENTS")
    events = events[events["user_session"].notna()]
    times = pd.to_datetime(events["event_time"].str.removesuffix(" UTC"))
    session = events["user_session"]
    sessions = events.groupby("user_session")["event_type"]
    sessions_per_user = events.groupby("user_id")["user_session"].nunique()
    return {
        "rows": len(events),
        "users": events["user_id"].nunique(),
        "sessions": events["user_session"].nunique(),
        "products": events["product_id"].nunique(),
        "first_event_at": str(times.min()),
        "last_event_at": str(times.max()),
        "event_type_share": events["event_type"].value_counts(normalize=True).to_dict(),
        "events_per_session": _quantiles(sessions.size(), ("p50", "p90", "p99")),
        "session_purchase_share": float((events["event_type"] == "purchase").groupby(session).any().mean()),
        "session_cart_share": float((events["event_type"] == "cart").groupby(session).any().mean()),
        "no_category_code_share": float(events["category_code"].isna().mean()),
        "no_brand_share": float(events["brand"].isna().mean()),
        "returning_user_share": float((sessions_per_user > 1).mean()),
        "price": _quantiles(events["price"], ("p10", "p50", "p90", "p99")),
        "events_by_hour": times.dt.hour.value_counts().reindex(range(24), fill_value=0).tolist(),
        "events_by_month": times.dt.to_period("M").astype(str).value_counts().sort_index().to_dict(),
    }


def profile_customer_profiles(source: pd.DataFrame | Path | str) -> dict:
    """PROFILE.md's Customer Personality figures for a DataFrame, the real TSV or a parquet part."""
    profiles = source if isinstance(source, pd.DataFrame) else (
        pd.read_csv(source, sep="\t") if Path(source).suffix == ".csv" else pd.read_parquet(source))
    joined = pd.to_datetime(profiles["Dt_Customer"], format="%d-%m-%Y")
    return {
        "rows": len(profiles),
        "columns": len(profiles.columns),
        "distinct_ids": profiles["ID"].nunique(),
        "income_missing": int(profiles["Income"].isna().sum()),
        "birth_year_min": int(profiles["Year_Birth"].min()),
        "birth_year_max": int(profiles["Year_Birth"].max()),
        "birth_years_before_1901": int((profiles["Year_Birth"] < 1901).sum()),
        "first_joined": str(joined.min().date()),
        "last_joined": str(joined.max().date()),
        "response_rate": float(profiles["Response"].mean()),
        "marital_status": profiles["Marital_Status"].value_counts().to_dict(),
    }
