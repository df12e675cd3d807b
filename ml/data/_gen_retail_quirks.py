"""The real file's odd single-line invoices: stock adjustments, fees, vouchers, a 80,995-unit slip.

Counts follow the real shop per identified customer, with at least one of each kind so every
quirk exists at any scale.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.data._gen_calendar import SeasonalCalendar
from ml.data._gen_catalog import Catalogue
from ml.data._gen_retail import COUNTRIES, REAL_CUSTOMERS, UK, Customers

# kind: (lines in the real shop, stock code, description, share cancelled, share guest,
#        median price, price spread as a log standard deviation)
FEES = {
    "discount": (77, "D", "Discount", 1.0, 0.0, 23.0, 1.0),
    "samples": (63, "S", "SAMPLES", 1.0, 1.0, 20.0, 1.0),
    "amazon_fee": (34, "AMAZONFEE", "AMAZON FEE", 1.0, 1.0, 5_900.0, 0.8),
    "cruk": (16, "CRUK", "CRUK Commission", 1.0, 0.0, 470.0, 0.5),
    "bank_charges": (37, "BANK CHARGES", "Bank Charges", 0.67, 0.67, 40.0, 0.9),
    "manual": (571, "M", "Manual", 0.43, 0.19, 8.0, 1.6),
    "pads": (4, "PADS", "PADS TO MATCH ALL CUSHIONS", 0.0, 0.0, 0.001, 0.0),
    "bad_debt": (3, "B", "Adjust bad debt", 0.0, 1.0, -11_062.06, 0.0),
}
STOCK_ADJUSTMENTS = 2_470  # zero-price guest lines that move stock, often with a note
ADJUSTMENT_NOTES = ("check", "?", "damages", "damaged", "found", "sold as set on dotcom",
                    "adjustment", "thrown away", "amazon", "??", "dotcom", "wet damaged",
                    "had been put aside", "smashed", "missing", "returned", "crushed")
GIFT_VOUCHERS = 32  # carry the Kaggle CSV's mis-encoded pound sign
VOUCHER_VALUES = np.array([10, 20, 30, 40, 50, 100])
HUGE_QUANTITY = 80_995


def quirk_lines(customers: Customers, catalogue: Catalogue, calendar: SeasonalCalendar,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One line per quirky invoice, plus the huge order and its immediate cancellation.

    Columns: timestamp, is_cancellation, stock_code, description (None = null), quantity, price,
    customer_id (nan = guest), country. Invoice numbers are assigned later, in time order.
    """
    per_customer = len(customers) / REAL_CUSTOMERS
    parts = [_fees(kind, max(1, round(spec[0] * per_customer)), customers, calendar, rng)
             for kind, spec in FEES.items()]
    parts.append(_stock_adjustments(max(1, round(STOCK_ADJUSTMENTS * per_customer)), catalogue,
                                    calendar, rng))
    parts.append(_gift_vouchers(max(1, round(GIFT_VOUCHERS * per_customer)), calendar, rng))
    parts.append(_huge_order(customers, catalogue, calendar, rng))
    return {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}


def _lines(timestamp, is_cancellation, stock_code, description, quantity, price, customer_id,
           country) -> dict[str, np.ndarray]:
    n = len(timestamp)
    return {
        "timestamp": timestamp,
        "is_cancellation": np.broadcast_to(is_cancellation, n).copy(),
        "stock_code": np.broadcast_to(np.asarray(stock_code, dtype=object), n).copy(),
        "description": np.broadcast_to(np.asarray(description, dtype=object), n).copy(),
        "quantity": np.broadcast_to(np.asarray(quantity, dtype=np.int64), n).copy(),
        "price": np.broadcast_to(np.asarray(price, dtype=np.float64), n).copy(),
        "customer_id": np.broadcast_to(np.asarray(customer_id, dtype=np.float64), n).copy(),
        "country": np.broadcast_to(np.asarray(country, dtype=np.int64), n).copy(),
    }


def _fees(kind: str, n: int, customers: Customers, calendar: SeasonalCalendar,
          rng: np.random.Generator) -> dict[str, np.ndarray]:
    _, code, description, cancelled_share, guest_share, median_price, spread = FEES[kind]
    is_cancellation = rng.random(n) < cancelled_share
    is_guest = rng.random(n) < guest_share
    who = rng.integers(0, len(customers), n)
    price = np.round(median_price * rng.lognormal(0.0, spread, n), 3 if median_price < 0.01 else 2)
    return _lines(calendar.timestamps(rng.random(n) * calendar.total), is_cancellation, code,
                  description, np.where(is_cancellation, -1, 1), price,
                  np.where(is_guest, np.nan, customers.customer_id[who]),
                  np.where(is_guest, UK, customers.country[who]))


def _stock_adjustments(n: int, catalogue: Catalogue, calendar: SeasonalCalendar,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    product = rng.choice(len(catalogue), n, p=catalogue.popularity)
    sign = np.where(rng.random(n) < 0.54, -1, 1)
    notes = np.array(ADJUSTMENT_NOTES, dtype=object)[rng.integers(0, len(ADJUSTMENT_NOTES), n)]
    description = np.where(rng.random(n) < 0.58, None, notes)
    return _lines(calendar.timestamps(rng.random(n) * calendar.total), False,
                  catalogue.stock_code[product], description, sign * rng.geometric(0.05, n), 0.0,
                  np.nan, UK)


def _gift_vouchers(n: int, calendar: SeasonalCalendar, rng: np.random.Generator
                   ) -> dict[str, np.ndarray]:
    value = VOUCHER_VALUES[rng.integers(0, len(VOUCHER_VALUES), n)]
    code = np.char.add("gift_0001_", value.astype(str)).astype(object)
    description = np.char.add(np.char.add("Dotcomgiftshop Gift Voucher \u00c2\u00a3",
                                          value.astype(str)), ".00").astype(object)
    return _lines(calendar.timestamps(rng.random(n) * calendar.total), False, code, description,
                  1, np.round(value / 1.2, 2), np.nan, UK)


def _huge_order(customers: Customers, catalogue: Catalogue, calendar: SeasonalCalendar,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A keying slip of 80,995 units late in the period, cancelled minutes later."""
    who = rng.integers(0, len(customers))
    product = int(np.argmax(catalogue.popularity))
    last_day = calendar.end.astype("datetime64[D]").astype("datetime64[s]")
    at = last_day + np.array([9 * 3600 + 15 * 60, 9 * 3600 + 27 * 60]).astype("timedelta64[s]")
    return _lines(at, np.array([False, True]), catalogue.stock_code[product],
                  catalogue.description[product], np.array([HUGE_QUANTITY, -HUGE_QUANTITY]), 2.08,
                  customers.customer_id[who], customers.country[who])


def quirk_table(lines: dict[str, np.ndarray], numbers: np.ndarray) -> pa.Table:
    """The quirk lines in the Online Retail II format, in invoice number order."""
    order = np.argsort(numbers, kind="stable")
    number = pa.array(numbers[order]).cast(pa.string())
    invoice = pc.if_else(pa.array(lines["is_cancellation"][order]),
                         pc.binary_join_element_wise("C", number, ""), number)
    customer_id = lines["customer_id"][order]
    return pa.table({
        "Invoice": invoice,
        "StockCode": pa.array(lines["stock_code"][order], pa.string()),
        "Description": pa.array(lines["description"][order], pa.string()),
        "Quantity": pa.array(lines["quantity"][order], pa.int64()),
        "InvoiceDate": pa.array(lines["timestamp"][order].astype("datetime64[us]")),
        "Price": pa.array(lines["price"][order], pa.float64()),
        "Customer ID": pa.array(customer_id, pa.float64(), mask=np.isnan(customer_id)),
        "Country": pa.array(COUNTRIES, pa.string()).take(pa.array(lines["country"][order])),
    })
