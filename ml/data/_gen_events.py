"""Clickstream of a separate multi-category storefront, in the REES46 event-log format.

Users arrive over the window and come back in sessions at personal rates until they drop out, so
activity decays. A session browses one category (popular products first), sometimes strays to
another; a few sessions end in a purchase, with or without a cart event before it.
Users are generated in blocks of fixed size, each with its own random stream.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ml.data._gen_calendar import SeasonalCalendar, seasonal_calendar
from ml.data._gen_io import EVENTS_STREAM, clear_parts, random_stream, write_part
from ml.data._gen_retail import poisson_times

FIRST_DAY = "2019-10-01"
END = "2020-01-01 00:00:00"
MONTH_WEIGHT = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0,
                10: 1.0, 11: 1.3, 12: 0.85}
WEEKDAY_WEIGHT = (1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.1)
# UTC hours of a shop whose customers live around UTC+3: quiet at night, busiest mid-afternoon
HOUR_WEIGHT = (3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 9, 9, 10, 10, 10, 9, 8, 6, 4, 3, 2, 2)

USERS_AT_SCALE_ONE = 126_000
MIN_USERS = 3_000
USERS_PER_BLOCK = 20_000
USER_ID_BASE, USER_ID_SPAN_PER_BLOCK = 300_000_000, 1_000_000  # keeps user ids at 9 digits
BLOCKS_PER_PART = 4

SESSION_RATE_SHAPE, SESSION_RATE_SCALE = 0.5, 0.12  # sessions per day ~ gamma
DROPOUT_A, DROPOUT_B = 1.0, 1.5  # chance to leave after each session ~ beta
PRE_EXISTING_SHARE = 0.5
EVENTS_MEDIAN, EVENTS_SIGMA = 1.8, 1.08  # events per session ~ ceil(lognormal)
PURCHASE_SESSION_SHARE = 0.0327  # calibrated: ~3.9% of sessions end buying
CART_BEFORE_PURCHASE = 0.45
ABANDONED_CART_SHARE = 0.006  # sessions putting something in the cart and buying nothing
REMOVE_AFTER_ABANDONED_CART = 0.3
SECOND_PURCHASE = 0.1
SECOND_CART = 0.45  # cart sessions often put a second product in the cart
STRAY_SHARE = 0.2  # events of a session outside its category

CATEGORY_CODES = (
    "electronics.smartphone", "electronics.clocks", "computers.notebook",
    "electronics.audio.headphone", "appliances.kitchen.refrigerators",
    "appliances.environment.vacuum", "appliances.environment.air_heater", "electronics.video.tv",
    "auto.accessories.player", "apparel.shoes", "appliances.kitchen.washer", "apparel.shoes.keds",
    "electronics.telephone", "furniture.living_room.cabinet", "auto.accessories.alarm",
    "appliances.kitchen.meat_grinder", "furniture.living_room.sofa", "computers.desktop",
    "furniture.bedroom.bed", "accessories.bag", "electronics.tablet", "appliances.kitchen.kettle",
    "appliances.environment.water_heater", "appliances.personal.hair_cutter",
    "computers.peripherals.printer", "electronics.camera.photo", "kids.toys", "sport.bicycle",
    "construction.tools.drill", "country_yard.lawn_mower", "apparel.trousers",
    "appliances.kitchen.microwave", "appliances.iron", "appliances.kitchen.blender",
    "computers.components.videocards", "computers.peripherals.monitor", "electronics.audio.subwoofer",
    "furniture.kitchen.table", "kids.carriage", "sport.trainer", "accessories.wallet",
    "medicine.tools.tonometer", "stationery.cartrige", "auto.accessories.videoregister",
    "appliances.kitchen.hood", "appliances.kitchen.oven", "construction.tools.saw",
    "furniture.bathroom.bath", "apparel.costume", "apparel.jeans",
)
UNCODED_CATEGORIES = 150  # category ids the shop never mapped to a code
UNCODED_SHARE = 0.33
BRANDS = ("samsung", "apple", "xiaomi", "huawei", "bosch", "lucente", "lg", "acer", "elenberg",
          "artel", "lenovo", "hp", "sony", "cordiant", "redmond", "dauscher", "oppo", "nokia",
          "casio", "triangle", "indesit", "philips", "asus", "beko", "tefal", "polaris", "vitek",
          "canon", "midea", "haier")
BRAND_SYLLABLES = ("lu", "ce", "ra", "vo", "mi", "ko", "ta", "ne", "si", "do", "ga", "ri", "pe",
                   "zo", "ba", "li", "te", "no", "ma", "ve")
NO_BRAND_SHARE = 0.14


@dataclass(frozen=True)
class EventCatalogue:
    product_id: np.ndarray
    category: np.ndarray  # index into category_id / category_code
    price: np.ndarray
    brand: pa.Array  # strings, null where the brand is unknown
    category_id: np.ndarray
    category_code: pa.Array  # strings, null for uncoded categories
    category_weight: np.ndarray
    by_category: np.ndarray  # product indices sorted by category
    cumulative: np.ndarray  # cumulative within-category popularity along by_category
    category_start: np.ndarray


def event_product_count(scale: float) -> int:
    return max(1_500, int(round(25_000 * scale ** 0.4)))


def events_calendar() -> SeasonalCalendar:
    return seasonal_calendar(FIRST_DAY, END, MONTH_WEIGHT, WEEKDAY_WEIGHT, HOUR_WEIGHT)


def build_event_catalogue(n_products: int, rng: np.random.Generator) -> EventCatalogue:
    """Products in coded and uncoded categories, brands, prices and popularity."""
    n_coded = len(CATEGORY_CODES)
    n_categories = n_coded + UNCODED_CATEGORIES
    coded_weight = (np.arange(n_coded) + 0.3) ** -1.3
    uncoded_weight = rng.lognormal(0.0, 1.0, UNCODED_CATEGORIES)
    category_weight = np.concatenate([coded_weight / coded_weight.sum() * (1 - UNCODED_SHARE),
                                      uncoded_weight / uncoded_weight.sum() * UNCODED_SHARE])
    # products spread over categories less unevenly than traffic is
    category = rng.choice(n_categories, n_products, p=np.sqrt(category_weight) /
                          np.sqrt(category_weight).sum())
    category_price = rng.lognormal(np.log(110.0), 1.2, n_categories)
    price = np.round(category_price[category] * rng.lognormal(0.0, 0.5, n_products), 2)
    product_id = 1_000_000 + np.sort(rng.choice(59_000_000, n_products, replace=False))
    category_id = 2_053_013_552_000_000_000 + rng.choice(120_000_000_000_000_000, n_categories,
                                                         replace=False)
    codes = pa.array(list(CATEGORY_CODES) + [None] * UNCODED_CATEGORIES, pa.string())

    popularity = rng.pareto(1.2, n_products) + 0.05
    by_category = np.lexsort((-popularity, category))
    category_start = np.searchsorted(category[by_category], np.arange(n_categories + 1))
    within = popularity[by_category]
    cumulative = np.concatenate([[0.0], np.cumsum(within)])
    return EventCatalogue(product_id, category, price, _brands(n_products, rng),
                          category_id, codes, category_weight, by_category, cumulative,
                          category_start)


def _brands(n_products: int, rng: np.random.Generator) -> pa.Array:
    syllables = np.array(BRAND_SYLLABLES, dtype=object)
    invented = syllables[rng.integers(0, len(syllables), 800)] + \
        syllables[rng.integers(0, len(syllables), 800)] + syllables[rng.integers(0, len(syllables), 800)]
    names = np.concatenate([np.array(BRANDS, dtype=object), np.unique(invented)])
    weight = (np.arange(len(names)) + 1.0) ** -1.1
    brand = rng.choice(len(names), n_products, p=weight / weight.sum())
    unbranded = rng.random(n_products) < NO_BRAND_SHARE
    return pa.array(names[brand], pa.string(), mask=unbranded)


def _products_in(catalogue: EventCatalogue, category: np.ndarray, rng: np.random.Generator
                 ) -> np.ndarray:
    """One product per entry of `category`, by popularity, in categories holding products."""
    low = catalogue.cumulative[catalogue.category_start[category]]
    high = catalogue.cumulative[catalogue.category_start[category + 1]]
    target = low + rng.random(len(category)) * (high - low)
    position = np.searchsorted(catalogue.cumulative, target, side="right") - 1
    position = np.clip(position, catalogue.category_start[category],
                       catalogue.category_start[category + 1] - 1)
    return catalogue.by_category[position]


def user_count(scale: float) -> int:
    return max(MIN_USERS, int(round(USERS_AT_SCALE_ONE * scale)))


def block_events(n_users: int, block: int, catalogue: EventCatalogue, calendar: SeasonalCalendar,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Events of one block of users as numpy columns (product index, not yet formatted)."""
    user_id = USER_ID_BASE + block * USER_ID_SPAN_PER_BLOCK + \
        np.sort(rng.choice(USER_ID_SPAN_PER_BLOCK, n_users, replace=False))
    session_user, session_start = _sessions(n_users, calendar, rng)
    n_sessions = len(session_user)
    length = np.minimum(np.ceil(rng.lognormal(np.log(EVENTS_MEDIAN), EVENTS_SIGMA, n_sessions)),
                        300).astype(np.int64)
    session = np.repeat(np.arange(n_sessions), length)
    focus = rng.choice(len(catalogue.category_weight), n_sessions, p=catalogue.category_weight)
    stray = rng.random(len(session)) < STRAY_SHARE
    category = np.where(stray, rng.choice(len(catalogue.category_weight), len(session),
                                          p=catalogue.category_weight), focus[session])
    product = _products_in(catalogue, _stocked(catalogue, category), rng)
    event_type = np.zeros(len(session), dtype=np.int8)  # 0 view, 1 cart, 2 remove, 3 purchase
    session, product, event_type = _shopping(session, product, event_type, length, rng)

    gaps = rng.lognormal(np.log(35.0), 1.1, len(session))
    first = np.r_[True, session[1:] != session[:-1]]
    gaps[first] = 0.0
    offset = np.cumsum(gaps)
    offset -= np.maximum.accumulate(np.where(first, offset, 0.0))
    seconds = np.round(offset).astype("timedelta64[s]")
    last_second = calendar.end - np.timedelta64(1, "s")
    return {
        "time": np.minimum(calendar.timestamps(session_start)[session] + seconds, last_second),
        "event_type": event_type,
        "product": product,
        "user_id": user_id[session_user[session]],
        "session": session,
        "session_uuid": _uuid_bytes(n_sessions, rng)[session],
    }


def _stocked(catalogue: EventCatalogue, category: np.ndarray) -> np.ndarray:
    """Categories that hold no product borrow the most popular one's."""
    empty = catalogue.category_start[category + 1] == catalogue.category_start[category]
    return np.where(empty, 0, category)


def _sessions(n_users: int, calendar: SeasonalCalendar, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """(user, start on the intensity axis) of each session, sorted by user then time."""
    total = calendar.total
    rate = rng.gamma(SESSION_RATE_SHAPE, SESSION_RATE_SCALE, n_users)
    dropout = rng.beta(DROPOUT_A, DROPOUT_B, n_users)
    arrival = np.where(rng.random(n_users) < PRE_EXISTING_SHARE, 0.0, rng.random(n_users) * total)
    user, start = poisson_times(rate, arrival, total, rng)
    # sessions after the user's dropout never happen
    rank = np.arange(len(user)) - np.searchsorted(user, user)
    keep = rank < (rng.geometric(dropout) - 1)[user]
    user, start = user[keep], start[keep]
    user = np.concatenate([np.arange(n_users), user])
    start = np.concatenate([arrival + rng.random(n_users) * np.where(arrival == 0, total, 0.0),
                            start])
    order = np.lexsort((start, user))
    return user[order], start[order]


def _shopping(session: np.ndarray, product: np.ndarray, event_type: np.ndarray,
              length: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Turn the end of some sessions into carts and purchases of products viewed before."""
    n_sessions = len(length)
    last = np.cumsum(length) - 1
    starts = last - length + 1
    buys = rng.random(n_sessions) < PURCHASE_SESSION_SHARE * 2 * np.sqrt(length) / (1 + np.sqrt(length))
    abandons = ~buys & (rng.random(n_sessions) < ABANDONED_CART_SHARE)
    chosen = starts + np.floor(rng.random(n_sessions) * length).astype(np.int64)
    bought = product[chosen]
    event_type[last[buys]] = 3
    product[last[buys]] = bought[buys]
    event_type[last[abandons]] = 1
    # extra events after the session's last one: carts before purchases, removals, second buys
    with_cart = buys & (rng.random(n_sessions) < CART_BEFORE_PURCHASE)
    removes = abandons & (rng.random(n_sessions) < REMOVE_AFTER_ABANDONED_CART)
    second = buys & (rng.random(n_sessions) < SECOND_PURCHASE)
    second_cart = (with_cart | abandons) & (rng.random(n_sessions) < SECOND_CART)
    extra_session = np.concatenate([np.flatnonzero(with_cart), np.flatnonzero(second_cart),
                                    np.flatnonzero(removes), np.flatnonzero(second)])
    extra_type = np.repeat(np.array([1, 1, 2, 3], dtype=np.int8),
                           [with_cart.sum(), second_cart.sum(), removes.sum(), second.sum()])
    extra_product = np.concatenate([bought[with_cart], product[starts[second_cart]],
                                    product[last[removes]], product[starts[second]]])
    # a cart event goes just before its purchase: order by session, then a rank per kind
    rank = np.arange(len(session)) * 2.0 + 2.0
    extra_rank = np.where(extra_type == 1, last[extra_session] * 2.0 + 1.0,
                          last[extra_session] * 2.0 + 3.0)
    all_session = np.concatenate([session, extra_session])
    order = np.lexsort((np.concatenate([rank, extra_rank]), all_session))
    return (all_session[order], np.concatenate([product, extra_product])[order],
            np.concatenate([event_type, extra_type])[order])


def _uuid_bytes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random version-4 UUIDs as 36 ASCII bytes each, shape (n, 36)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nibbles = np.stack([raw >> 4, raw & 0x0F], axis=2).reshape(n, 32)
    text = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return np.hstack([text[:, :8], dash, text[:, 8:12], dash, text[:, 12:16], dash,
                      text[:, 16:20], dash, text[:, 20:]])


def _fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An arrow string array from an (n, width) array of ASCII bytes, without a Python loop."""
    n, width = chars.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(np.ascontiguousarray(chars).tobytes()))


def _event_times(times: np.ndarray) -> pa.Array:
    """'2019-10-01 00:00:00 UTC' strings."""
    text = np.datetime_as_string(times.astype("datetime64[s]"), unit="s").astype("S19")
    chars = np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(len(times), 19).copy()
    chars[:, 10] = ord(" ")
    suffix = np.broadcast_to(np.frombuffer(b" UTC", dtype=np.uint8), (len(times), 4))
    return _fixed_width_strings(np.hstack([chars, suffix]))


EVENT_TYPES = pa.array(["view", "cart", "remove_from_cart", "purchase"], pa.string())


def events_table(events: dict[str, np.ndarray], catalogue: EventCatalogue) -> pa.Table:
    """The REES46 columns, sorted by event time (ties by user, then session order)."""
    order = np.lexsort((np.arange(len(events["time"])), events["user_id"], events["time"]))
    product = pa.array(events["product"][order])
    category = catalogue.category[events["product"][order]]
    return pa.table({
        "event_time": _event_times(events["time"][order]),
        "event_type": EVENT_TYPES.take(pa.array(events["event_type"][order])),
        "product_id": pa.array(catalogue.product_id[events["product"][order]], pa.int64()),
        "category_id": pa.array(catalogue.category_id[category], pa.int64()),
        "category_code": catalogue.category_code.take(pa.array(category)),
        "brand": catalogue.brand.take(product),
        "price": pa.array(catalogue.price[events["product"][order]], pa.float64()),
        "user_id": pa.array(events["user_id"][order], pa.int64()),
        "user_session": _fixed_width_strings(events["session_uuid"][order]),
    })


def write_events(folder: Path, scale: float, seed: int, blocks_per_part: int = BLOCKS_PER_PART
                 ) -> dict:
    """Write the event log in part files of `blocks_per_part` user blocks; returns a summary."""
    clear_parts(folder)
    catalogue = build_event_catalogue(event_product_count(scale), random_stream(seed, EVENTS_STREAM))
    calendar = events_calendar()
    n_users = user_count(scale)
    n_blocks = -(-n_users // USERS_PER_BLOCK)
    rows, parts, first, last = 0, 0, None, None
    for first_block in range(0, n_blocks, blocks_per_part):
        blocks = range(first_block, min(first_block + blocks_per_part, n_blocks))
        parts_events = [block_events(min(USERS_PER_BLOCK, n_users - b * USERS_PER_BLOCK), b,
                                     catalogue, calendar, random_stream(seed, EVENTS_STREAM, b + 1))
                        for b in blocks]
        events = {column: np.concatenate([p[column] for p in parts_events])
                  for column in parts_events[0]}
        table = events_table(events, catalogue)
        write_part(table, folder, parts)
        rows, parts = rows + table.num_rows, parts + 1
        first = min(first, events["time"].min()) if first is not None else events["time"].min()
        last = max(last, events["time"].max()) if last is not None else events["time"].max()
    return {"rows": rows, "files": parts, "users": n_users, "products": len(catalogue.product_id),
            "first_event_at": str(first), "last_event_at": str(last)}
