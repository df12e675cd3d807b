"""The raw file formats the project reads, one entry per kind of input.

Each kind maps to one folder under ``<raw_dir>`` and one dbt source table. Column names are those
of the public data sets, exactly as their files spell them, so a real export drops in unchanged.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class RawFormat:
    kind: str  # name used on the command line
    folder: str  # folder under raw_dir, also the dbt source table's location
    columns: tuple[str, ...]
    description: str


ONLINE_RETAIL = RawFormat(
    kind="online-retail",
    folder="online_retail",
    columns=("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
             "CustomerID", "Country"),
    description="UCI Online Retail (2010-2011) invoice lines",
)
ONLINE_RETAIL_II = RawFormat(
    kind="online-retail-ii",
    folder="online_retail_ii",
    columns=("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
             "Customer ID", "Country"),
    description="UCI Online Retail II (2009-2011) invoice lines",
)
EVENTS = RawFormat(
    kind="events",
    folder="events",
    columns=("event_time", "event_type", "product_id", "category_id", "category_code", "brand",
             "price", "user_id", "user_session"),
    description='"eCommerce behavior data from multi category store" event log',
)
CUSTOMER_PROFILES = RawFormat(
    kind="customer-profiles",
    folder="customer_profiles",
    columns=("ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome",
             "Dt_Customer", "Recency", "MntWines", "MntFruits", "MntMeatProducts",
             "MntFishProducts", "MntSweetProducts", "MntGoldProds", "NumDealsPurchases",
             "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth",
             "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2",
             "Complain", "Z_CostContact", "Z_Revenue", "Response"),
    description='"Customer Personality Analysis" customer profiles',
)
CDNOW = RawFormat(
    kind="cdnow",
    folder="cdnow",
    columns=("customer_id", "date", "quantity", "amount"),
    description="CDNOW master transactions (ships inside lifetimes)",
)

RAW_FORMATS: dict[str, RawFormat] = {
    f.kind: f for f in (ONLINE_RETAIL, ONLINE_RETAIL_II, EVENTS, CUSTOMER_PROFILES, CDNOW)
}
