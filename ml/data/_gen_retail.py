"""Invoice lines of a gift wholesaler in the UCI Online Retail II format.

Two passes. The first, global and light, draws every customer (BG/NBD-style: gamma purchase
rates, beta dropout, acquisition over the period) and every invoice header, so invoice numbers
follow time across the whole shop. The second fills invoice lines block by block (a fixed number
of customers per block, each block with its own random stream), so memory stays flat and the
content does not depend on how blocks are grouped into part files.
"""

from dataclasses import dataclass

import numpy as np

from ml.data._gen_calendar import SeasonalCalendar, seasonal_calendar

FIRST_DAY = "2010-12-01"
END = "2011-12-09 12:51:00"
# tuned so clean invoices per month follow the real shop (November ~2.7x January)
MONTH_WEIGHT = {1: 0.562, 2: 0.551, 3: 0.670, 4: 0.627, 5: 0.757, 6: 0.678, 7: 0.634, 8: 0.563,
                9: 0.841, 10: 0.882, 11: 1.131, 12: 1.04}
WEEKDAY_WEIGHT = (2863, 3184, 3455, 4032, 2829, 0, 2169)  # Mon..Sun; the shop never invoices on Saturday
HOUR_WEIGHT = (0, 0, 0, 0, 0, 0, 1, 29, 555, 1393, 2226, 2277, 3129, 2636, 2274, 2037, 1100, 544,
               169, 144, 18, 0, 0, 0)
CLOSED = (("2010-12-24", "2011-01-03"),)

COUNTRY_CUSTOMERS = {
    "United Kingdom": 3950, "Germany": 95, "France": 87, "Spain": 31, "Belgium": 25,
    "Switzerland": 21, "Portugal": 19, "Italy": 15, "Finland": 12, "Austria": 11, "Norway": 10,
    "Australia": 9, "Denmark": 9, "Netherlands": 9, "Channel Islands": 9, "Japan": 8, "Sweden": 8,
    "Cyprus": 8, "Poland": 6, "Unspecified": 4, "USA": 4, "Canada": 4, "Israel": 4, "Greece": 4,
    "EIRE": 3, "United Arab Emirates": 2, "Bahrain": 2, "Malta": 2, "Brazil": 1, "Lebanon": 1,
    "Iceland": 1, "Czech Republic": 1, "European Community": 1, "Saudi Arabia": 1, "RSA": 1,
    "Lithuania": 1, "Singapore": 1,
}
COUNTRIES = np.array(list(COUNTRY_CUSTOMERS), dtype=object)
UK = 0

REAL_CUSTOMERS = 4_372  # identified customers of the real shop, the scale-1 target
MIN_CUSTOMERS = 300
CUSTOMERS_PER_BLOCK = 1_000

# BG/NBD-style behaviour on the intensity axis (one unit = one average open day)
RATE_SHAPE, RATE_SCALE = 0.65, 0.028  # purchases per day ~ gamma
DROPOUT_A, DROPOUT_B = 0.4, 4.0  # chance to drop out after each purchase ~ beta
PRE_EXISTING_SHARE = 0.5  # customers already active when the window opens
POTENTIAL_PER_CUSTOMER = 1.2  # potential customers per identified one (some never buy in window)
BULK_BUYER_SHARE, BULK_BUYER_FACTOR = 0.025, 10.0  # wholesalers ordering many times the usual
FOLLOW_UP_SHARE = 0.05  # invoices followed by a small same-day top-up invoice
SMALL_ORDER_SHARE = 0.06  # other orders of one or two items
GUEST_SALES_PER_CUSTOMER = 1_419 / REAL_CUSTOMERS  # dotcom orders with no customer id
CANCELLED_SHARE = 0.15  # sales invoices later partly cancelled
DUPLICATE_SHARE = 0.0097  # lines keyed twice, as exact duplicates
FREE_LINE_SHARE = 0.0001  # lines given away at price 0 to a known customer


@dataclass(frozen=True)
class Customers:
    customer_id: np.ndarray  # float64, as the real file stores ids
    country: np.ndarray  # index into COUNTRIES
    basket_log_median: np.ndarray  # personal typical basket size (log lines)
    quantity_scale: np.ndarray  # personal multiplier of pack quantities
    themes: np.ndarray  # (n, 3) preferred theme indices
    repertoire_size: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_id)


@dataclass(frozen=True)
class Invoices:
    """Sales invoices (registered and guest) and their later cancellations, one row each."""
    unit: np.ndarray  # customer index, or n_customers + guest index
    timestamp: np.ndarray  # datetime64[s]
    lines: np.ndarray  # target number of product lines
    number: np.ndarray  # int invoice number
    cancel_number: np.ndarray  # int, -1 when not cancelled
    cancel_timestamp: np.ndarray
    cancel_lines: np.ndarray  # lines the cancellation reverses (0 = none)


def retail_calendar() -> SeasonalCalendar:
    return seasonal_calendar(FIRST_DAY, END, MONTH_WEIGHT, WEEKDAY_WEIGHT, HOUR_WEIGHT, CLOSED)


def customer_count(scale: float) -> int:
    return max(MIN_CUSTOMERS, int(round(REAL_CUSTOMERS * scale)))


def draw_purchases(n_potential: int, calendar: SeasonalCalendar, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times on the intensity axis for potential customers: (customer index, time).

    Pre-existing customers buy at Poisson times from the start; new ones are acquired by their
    first purchase at a time spread like the shop's traffic. Each keeps buying until a geometric
    number of purchases (the dropout) is reached.
    """
    total = calendar.total
    rate = rng.gamma(RATE_SHAPE, RATE_SCALE, n_potential)
    dropout = rng.beta(DROPOUT_A, DROPOUT_B, n_potential)
    is_new = rng.random(n_potential) >= PRE_EXISTING_SHARE
    start = np.where(is_new, rng.random(n_potential) * total, 0.0)
    lifetime_purchases = rng.geometric(np.maximum(dropout, 1e-6))
    owner, times = poisson_times(rate, start, total, rng)
    # purchases after the customer's last one (the dropout) never happen
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)
    keep = rank < np.where(is_new, lifetime_purchases - 1, lifetime_purchases)[owner]
    owner = np.concatenate([np.flatnonzero(is_new), owner[keep]])
    times = np.concatenate([start[is_new], times[keep]])
    order = np.lexsort((times, owner))
    return owner[order], times[order]


def poisson_times(rate: np.ndarray, start: np.ndarray, end: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Times of a Poisson process of `rate` on (start, end) per entity, sorted by (entity, time)."""
    counts = rng.poisson(rate * (end - start))
    owner = np.repeat(np.arange(len(rate)), counts)
    times = start[owner] + rng.random(len(owner)) * (end - start[owner])
    order = np.lexsort((times, owner))
    return owner[order], times[order]


def draw_customers(n_customers: int, calendar: SeasonalCalendar, n_themes: int,
                   theme_share: np.ndarray, rng: np.random.Generator
                   ) -> tuple[Customers, np.ndarray, np.ndarray, np.ndarray]:
    """Identified customers with at least one purchase, and their purchases.

    Returns the customers and, per purchase, its owner, intensity time and whether it is a small
    same-day top-up of the previous one.
    """
    n_potential = int(round(n_customers * POTENTIAL_PER_CUSTOMER))
    owner, times = draw_purchases(n_potential, calendar, rng)
    buyers = np.unique(owner)
    if len(buyers) > n_customers:
        buyers = np.sort(rng.choice(buyers, n_customers, replace=False))
    keep = np.isin(owner, buyers)
    owner = np.searchsorted(buyers, owner[keep])
    times = times[keep]
    n = len(buyers)

    follow = rng.random(len(owner)) < FOLLOW_UP_SHARE
    owner = np.concatenate([owner, owner[follow]])
    times = np.concatenate([times, times[follow] + rng.uniform(0.02, 0.25, follow.sum())])
    is_top_up = np.concatenate([np.zeros(len(follow), bool), np.ones(follow.sum(), bool)])
    order = np.lexsort((times, owner))
    owner, times, is_top_up = owner[order], times[order], is_top_up[order]

    country_weight = np.array(list(COUNTRY_CUSTOMERS.values()), dtype=float)
    ids = 12_346 + np.sort(rng.choice(int(n * 1.36) + 10, n, replace=False))
    themes = rng.choice(n_themes, size=(n, 3), p=theme_share / theme_share.sum())
    basket = rng.normal(np.log(20.5), 0.55, n)
    customers = Customers(
        customer_id=ids.astype(np.float64),
        country=rng.choice(len(COUNTRIES), n, p=country_weight / country_weight.sum()),
        basket_log_median=basket,
        quantity_scale=rng.lognormal(np.log(1.3), 0.45, n)
        * np.where(rng.random(n) < BULK_BUYER_SHARE, BULK_BUYER_FACTOR, 1.0),
        themes=themes,
        repertoire_size=np.clip(np.round(np.exp(basket) * rng.lognormal(1.2, 0.5, n)), 8, 400
                                ).astype(np.int64),
    )
    return customers, owner, times, is_top_up


def draw_invoices(n_customers: int, owner: np.ndarray, times: np.ndarray, is_top_up: np.ndarray,
                  customers: Customers, calendar: SeasonalCalendar, rng: np.random.Generator
                  ) -> Invoices:
    """Sales invoices of customers and guests, sorted by unit then time, and their cancellations.

    Invoice numbers are left at -1; `number_invoices` assigns them once every header is known.
    """
    basket = np.exp(rng.normal(customers.basket_log_median[owner], 0.8))
    small = is_top_up | (rng.random(len(owner)) < SMALL_ORDER_SHARE)
    lines = np.where(small, rng.geometric(0.45, len(owner)), np.maximum(1, np.round(basket)))
    n_guests = int(round(GUEST_SALES_PER_CUSTOMER * n_customers))
    guest_times = rng.random(n_guests) * calendar.total
    guest_lines = np.clip(np.round(rng.lognormal(np.log(50.0), 1.1, n_guests)), 1, 1_100)

    unit = np.concatenate([owner, n_customers + np.arange(n_guests)])
    intensity = np.concatenate([times, guest_times])
    lines = np.concatenate([lines, guest_lines]).astype(np.int64)
    n = len(unit)
    cancel_share = np.where(unit < n_customers, CANCELLED_SHARE, 0.08)
    cancel_at = intensity + rng.exponential(6.0, n) + 0.01
    cancelled = (rng.random(n) < cancel_share) & (cancel_at < calendar.total)
    whole = rng.random(n) < 0.05  # some cancellations reverse the whole invoice
    cancel_lines = np.where(whole, lines, rng.geometric(0.45, n))
    cancel_lines = np.where(cancelled, np.minimum(cancel_lines, lines), 0)
    return Invoices(unit=unit, timestamp=calendar.timestamps(intensity),
                    lines=lines, number=np.full(n, -1), cancel_number=np.full(n, -1),
                    cancel_timestamp=calendar.timestamps(np.where(cancelled, cancel_at, 0.0)),
                    cancel_lines=cancel_lines)


def first_invoice_number(n_invoices: int) -> int:
    """536365 as the real file starts; lower for big shops so numbers keep 6 digits while they can."""
    return max(100_000, min(536_365, 1_000_000 - n_invoices))


def number_invoices(invoices: Invoices, other_timestamps: np.ndarray) -> tuple[Invoices, np.ndarray]:
    """Invoice numbers in time order over sales, cancellations and the `other` invoices."""
    cancelled = invoices.cancel_lines > 0
    stamps = np.concatenate([invoices.timestamp, invoices.cancel_timestamp[cancelled],
                             other_timestamps])
    group = np.concatenate([np.zeros(len(invoices.unit)), np.ones(cancelled.sum()),
                            np.full(len(other_timestamps), 2)])
    order = np.lexsort((np.arange(len(stamps)), group, stamps))
    numbers = np.empty(len(stamps), dtype=np.int64)
    numbers[order] = first_invoice_number(len(stamps)) + np.arange(len(stamps))
    n = len(invoices.unit)
    cancel_number = np.full(n, -1)
    cancel_number[cancelled] = numbers[n:n + cancelled.sum()]
    numbered = Invoices(invoices.unit, invoices.timestamp, invoices.lines,
                        numbers[:n], cancel_number, invoices.cancel_timestamp, invoices.cancel_lines)
    return numbered, numbers[n + cancelled.sum():]
