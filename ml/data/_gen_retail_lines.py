"""Pass two of the retail generator: the lines of one block of customers' invoices.

A customer fills baskets from a personal repertoire (what they re-buy, weighted to a core), from
browsing their preferred themes, and with companions of what is already in the basket. Guests
(dotcom orders) browse the whole shop. Quantities come in the product's pack sizes; big quantities
get the lower price tier.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.data._gen_catalog import PRICE_POINTS, THEMES, Catalogue
from ml.data._gen_retail import (COUNTRIES, DUPLICATE_SHARE, FREE_LINE_SHARE, UK, Customers,
                                 Invoices)

REPERTOIRE_PICK = 0.65  # share of a known customer's picks taken from their repertoire
THEME_PICK = 0.14  # share browsed in themes; the rest are companions of basket items
GUEST_THEME_PICK = 0.7
CORE_SKEW = 3.0  # repertoire picks favour its first items: the core a customer re-buys
PREFERRED_THEME = 0.6  # chance a browsing pick stays in the customer's preferred themes
CHRISTMAS = list(THEMES).index("CHRISTMAS")
OFF_SEASON_MONTHS = np.arange(1, 8)  # Christmas goods sell from August
POSTAGE_SHARE, CARRIAGE_SHARE, DOTCOM_POSTAGE_SHARE = 0.55, 0.05, 0.5
EXTRA_ITEMS = (("POST", "POSTAGE"), ("C2", "CARRIAGE"), ("DOT", "DOTCOM POSTAGE"))
# lines carry wholesale packs: a multiple of the pack, or loose units of cheap packs
QUANTITY_MULTIPLE_SIGMA = 0.9
LOOSE_UNITS_SHARE = 0.12
TYPICAL_BASKET_LINES = 15
BASKET_QUANTITY_ELASTICITY = 0.6
BULK_MULTIPLE = 4  # from this many packs the next lower price point applies

LINE_COLUMNS = ("number", "is_cancellation", "item", "quantity", "timestamp", "price",
                "customer_id", "country")


@dataclass(frozen=True)
class ItemTable:
    """Products followed by the non-product codes added to sales invoices."""
    stock_code: pa.Array
    description: pa.Array
    n_products: int

    @classmethod
    def of(cls, catalogue: Catalogue) -> "ItemTable":
        codes = list(catalogue.stock_code) + [code for code, _ in EXTRA_ITEMS]
        names = list(catalogue.description) + [name for _, name in EXTRA_ITEMS]
        return cls(pa.array(codes, pa.string()), pa.array(names, pa.string()), len(catalogue))

    def extra(self, code: str) -> int:
        return self.n_products + [c for c, _ in EXTRA_ITEMS].index(code)


def block_lines(invoices: Invoices, customers: Customers, n_customers: int, catalogue: Catalogue,
                items: ItemTable, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Lines of the given invoices (one block) as numpy columns named in LINE_COLUMNS."""
    registered = invoices.unit < n_customers
    customer = np.where(registered, invoices.unit, 0)
    picks_owner = np.repeat(np.arange(len(invoices.unit)), invoices.lines)
    item = _pick_products(invoices, picks_owner, registered, customer, customers, catalogue, rng)
    invoice, item = _drop_repeated_items(picks_owner, item, len(catalogue))
    basket_lines = np.bincount(invoice, minlength=len(invoices.unit))[invoice]
    quantity, price = _quantities_and_prices(item, customer[invoice], registered[invoice],
                                             basket_lines, customers, catalogue, rng)
    country = np.where(registered, customers.country[customer],
                       rng.choice(len(COUNTRIES), len(customer), p=_guest_country_weights()))
    invoice, item, quantity, price = _add_charges(invoice, item, quantity, price, registered,
                                                  country, items, rng)
    keep = np.repeat(np.arange(len(invoice)), 1 + (rng.random(len(invoice)) < DUPLICATE_SHARE))
    invoice, item, quantity, price = invoice[keep], item[keep], quantity[keep], price[keep]
    sales = {
        "number": invoices.number[invoice],
        "is_cancellation": np.zeros(len(invoice), bool),
        "item": item,
        "quantity": quantity,
        "timestamp": invoices.timestamp[invoice],
        "price": price,
        "customer_id": np.where(registered[invoice], customers.customer_id[customer[invoice]], np.nan),
        "country": country[invoice],
    }
    return _with_cancellations(sales, invoice, invoices, rng)


def _pick_products(invoices: Invoices, owner: np.ndarray, registered: np.ndarray,
                   customer: np.ndarray, customers: Customers, catalogue: Catalogue,
                   rng: np.random.Generator) -> np.ndarray:
    n = len(owner)
    position = np.arange(n) - np.repeat(np.cumsum(invoices.lines) - invoices.lines, invoices.lines)
    is_registered = registered[owner]
    who = customer[owner]
    draw = rng.random(n)
    from_repertoire = is_registered & (draw < REPERTOIRE_PICK)
    theme_share = np.where(is_registered, REPERTOIRE_PICK + THEME_PICK, GUEST_THEME_PICK)
    is_companion = (draw >= theme_share) & (position > 0)
    from_theme = ~from_repertoire & ~is_companion

    item = np.zeros(n, dtype=np.int64)  # companions are filled last
    item[from_repertoire] = _repertoire_picks(who[from_repertoire], customers, catalogue, rng)
    item[from_theme] = _theme_picks(who[from_theme], is_registered[from_theme], customers,
                                    catalogue, rng)
    # Christmas goods are mostly left on the shelf outside the season
    months = invoices.timestamp.astype("datetime64[M]").astype(np.int64) % 12 + 1
    off_season = (catalogue.theme[item] == CHRISTMAS) & np.isin(months[owner], OFF_SEASON_MONTHS) \
        & ~is_companion & (rng.random(n) < 0.85)
    item[off_season] = _theme_picks(who[off_season], np.zeros(off_season.sum(), bool), customers,
                                    catalogue, rng)
    anchor = np.maximum.accumulate(np.where(is_companion, 0, np.arange(n)))
    slot = rng.integers(0, catalogue.companions.shape[1], is_companion.sum())
    item[is_companion] = catalogue.companions[item[anchor[is_companion]], slot]
    return item


def _repertoire_picks(who: np.ndarray, customers: Customers, catalogue: Catalogue,
                      rng: np.random.Generator) -> np.ndarray:
    """Picks from each customer's repertoire, weighted to its first (core) items."""
    local, inverse = np.unique(who, return_inverse=True)
    size = customers.repertoire_size[local]
    starts = np.cumsum(size) - size
    repertoire = _repertoires(local, size, customers, catalogue, rng)
    offset = np.floor(size[inverse] * rng.random(len(who)) ** CORE_SKEW).astype(np.int64)
    return repertoire[starts[inverse] + offset]


def _repertoires(local: np.ndarray, size: np.ndarray, customers: Customers, catalogue: Catalogue,
                 rng: np.random.Generator) -> np.ndarray:
    """Concatenated repertoires, `size[i]` distinct products for customer `local[i]`, core first."""
    draws = size * 2 + 10
    owner = np.repeat(np.arange(len(local)), draws)
    products = _theme_picks(local[owner], np.ones(len(owner), bool), customers, catalogue, rng)
    key = owner * len(catalogue) + products
    _, first = np.unique(key, return_index=True)
    first.sort()
    owner, products = owner[first], products[first]
    counts = np.bincount(owner, minlength=len(local))
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < size[owner]
    # a tiny catalogue may not fill a repertoire: repeat what was found
    short = counts < size
    if short.any():
        missing = np.repeat(np.flatnonzero(short), (size - counts)[short])
        owner = np.concatenate([owner[keep], missing])
        products = np.concatenate([products[keep], products[np.cumsum(counts)[missing] - 1]])
        order = np.argsort(owner, kind="stable")
        return products[order]
    return products[keep]


def _theme_picks(who: np.ndarray, use_preference: np.ndarray, customers: Customers,
                 catalogue: Catalogue, rng: np.random.Generator) -> np.ndarray:
    n = len(who)
    shares = catalogue.theme_share / catalogue.theme_share.sum()
    theme = rng.choice(len(shares), n, p=shares)
    preferred = use_preference & (rng.random(n) < PREFERRED_THEME)
    slot = rng.integers(0, customers.themes.shape[1], n)
    theme = np.where(preferred, customers.themes[who, slot], theme)
    return catalogue.sample_in_themes(theme, rng)


def _drop_repeated_items(invoice: np.ndarray, item: np.ndarray, n_items: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """One line per product and invoice, in pick order."""
    _, first = np.unique(invoice * n_items + item, return_index=True)
    first.sort()
    return invoice[first], item[first]


def _quantities_and_prices(item: np.ndarray, customer: np.ndarray, registered: np.ndarray,
                           basket_lines: np.ndarray, customers: Customers, catalogue: Catalogue,
                           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(item)
    pack = catalogue.pack[item]
    # small orders restock a few lines in bulk, big ones take a little of many
    basket_factor = (basket_lines / TYPICAL_BASKET_LINES) ** -BASKET_QUANTITY_ELASTICITY
    scale = np.where(registered, customers.quantity_scale[customer] * basket_factor, 0.35)
    multiple = np.maximum(1, np.round(rng.lognormal(np.log(scale), QUANTITY_MULTIPLE_SIGMA)))
    quantity = pack * multiple
    loose = rng.random(n) < LOOSE_UNITS_SHARE
    quantity = np.where(loose, rng.integers(1, np.minimum(pack, 4) + 1), quantity).astype(np.int64)
    price_index = np.searchsorted(PRICE_POINTS, catalogue.price[item] - 1e-9)
    price_index = price_index - (quantity >= BULK_MULTIPLE * pack) + ~registered  # dotcom premium
    price = PRICE_POINTS[np.clip(price_index, 0, len(PRICE_POINTS) - 1)]
    price = np.where(registered & (rng.random(n) < FREE_LINE_SHARE), 0.0, price)
    return quantity, price


def _guest_country_weights() -> np.ndarray:
    weight = np.full(len(COUNTRIES), 0.1 / (len(COUNTRIES) - 1))
    weight[UK] = 0.9
    return weight


def _add_charges(invoice: np.ndarray, item: np.ndarray, quantity: np.ndarray, price: np.ndarray,
                 registered: np.ndarray, country: np.ndarray, items: ItemTable,
                 rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Postage for foreign customers, carriage, and dotcom postage on guest orders, last in the basket."""
    n = len(registered)
    foreign = registered & (country != UK)
    postage = foreign & (rng.random(n) < POSTAGE_SHARE)
    carriage = foreign & (rng.random(n) < CARRIAGE_SHARE)
    dotcom = ~registered & (rng.random(n) < DOTCOM_POSTAGE_SHARE)
    charge_invoice = np.concatenate([np.flatnonzero(postage), np.flatnonzero(carriage),
                                     np.flatnonzero(dotcom)])
    charge_item = np.repeat([items.extra("POST"), items.extra("C2"), items.extra("DOT")],
                            [postage.sum(), carriage.sum(), dotcom.sum()])
    charge_quantity = np.concatenate([rng.integers(1, 4, postage.sum()), np.ones(carriage.sum(), int),
                                      np.ones(dotcom.sum(), int)])
    charge_price = np.concatenate([
        rng.choice([18.0, 15.0, 28.0, 40.0], postage.sum(), p=[0.6, 0.2, 0.1, 0.1]),
        np.full(carriage.sum(), 50.0),
        np.round(rng.lognormal(np.log(150.0), 0.6, dotcom.sum()), 2),
    ])
    invoice = np.concatenate([invoice, charge_invoice])
    order = np.argsort(invoice, kind="stable")
    return (invoice[order], np.concatenate([item, charge_item])[order],
            np.concatenate([quantity, charge_quantity])[order],
            np.concatenate([price, charge_price])[order])


def _with_cancellations(sales: dict[str, np.ndarray], invoice: np.ndarray, invoices: Invoices,
                        rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Append C lines reversing some lines of cancelled invoices, at the cancellation's time."""
    n = len(invoice)
    counts = np.bincount(invoice, minlength=len(invoices.unit))
    rank_key = rng.random(n)
    order = np.lexsort((rank_key, invoice))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    chosen = np.flatnonzero(rank < invoices.cancel_lines[invoice])
    partial = rng.random(len(chosen)) < 0.2
    quantity = sales["quantity"][chosen]
    reversed_quantity = np.where(partial, np.ceil(quantity * rng.random(len(chosen))), quantity)
    cancellations = {column: values[chosen] for column, values in sales.items()}
    cancellations["number"] = invoices.cancel_number[invoice[chosen]]
    cancellations["is_cancellation"] = np.ones(len(chosen), bool)
    cancellations["timestamp"] = invoices.cancel_timestamp[invoice[chosen]]
    cancellations["quantity"] = -np.maximum(1, reversed_quantity).astype(np.int64)
    return {column: np.concatenate([sales[column], cancellations[column]]) for column in LINE_COLUMNS}


def lines_table(lines: dict[str, np.ndarray], items: ItemTable) -> pa.Table:
    """Arrow table in the Online Retail II format, sorted by invoice number then line order."""
    order = np.argsort(lines["number"], kind="stable")
    number = pa.array(lines["number"][order]).cast(pa.string())
    is_cancellation = pa.array(lines["is_cancellation"][order])
    invoice = pc.if_else(is_cancellation, pc.binary_join_element_wise("C", number, ""), number)
    item = pa.array(lines["item"][order])
    customer_id = lines["customer_id"][order]
    return pa.table({
        "Invoice": invoice,
        "StockCode": items.stock_code.take(item),
        "Description": items.description.take(item),
        "Quantity": pa.array(lines["quantity"][order], pa.int64()),
        "InvoiceDate": pa.array(lines["timestamp"][order].astype("datetime64[us]")),
        "Price": pa.array(lines["price"][order], pa.float64()),
        "Customer ID": pa.array(customer_id, pa.float64(), mask=np.isnan(customer_id)),
        "Country": pa.array(COUNTRIES, pa.string()).take(pa.array(lines["country"][order])),
    })
