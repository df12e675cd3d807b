"""The gift wholesaler's product catalogue: stock codes, names, themes, prices, popularity.

Products belong to themes whose word appears in the name ("... CHRISTMAS ...", "... BAG"), carry a
list price and a wholesale pack size, a Zipf-like popularity, and a few companions from their
theme that baskets often hold together.
"""

from dataclasses import dataclass

import numpy as np

# theme word -> nouns that carry it; the word is what a category-like parse of the name finds
THEMES: dict[str, tuple[str, ...]] = {
    "CHRISTMAS": ("CHRISTMAS DECORATION", "CHRISTMAS TREE", "CHRISTMAS CARDS", "CHRISTMAS STOCKING"),
    "HEART": ("HANGING HEART", "HEART T-LIGHT HOLDER", "HEART DECORATION", "HEART WICKER"),
    "BAG": ("CHARLOTTE BAG", "JUMBO BAG", "LUNCH BAG", "SHOPPER BAG"),
    "CANDLE": ("SCENTED CANDLE", "PILLAR CANDLE", "CANDLE POT", "CANDLE HOLDER"),
    "T-LIGHT": ("T-LIGHT HOLDER", "T-LIGHT LANTERN", "T-LIGHTS", "T-LIGHT CANDLES"),
    "MUG": ("MUG", "CUBIC MUG", "MUG SET", "ENAMEL MUG"),
    "CAKE": ("CAKE CASES", "CAKE TIN", "CAKESTAND", "CAKE PLATE"),
    "GARDEN": ("GARDEN MARKER", "GARDEN KNEELING PAD", "GARDEN TOOLS", "GARDEN SIGN"),
    "CARD": ("GREETING CARD", "BIRTHDAY CARD", "CARD HOLDER", "GIFT CARD"),
    "WRAP": ("GIFT WRAP", "WRAPPING PAPER", "WRAP", "GIFT WRAP SET"),
    "NECKLACE": ("NECKLACE", "BEAD NECKLACE", "PENDANT NECKLACE", "CHARM NECKLACE"),
    "EARRINGS": ("DROP EARRINGS", "HOOP EARRINGS", "STUD EARRINGS", "EARRINGS"),
    "BRACELET": ("BRACELET", "BEAD BRACELET", "CHARM BRACELET", "CUFF BRACELET"),
    "CUSHION": ("CUSHION COVER", "CUSHION", "FLOOR CUSHION", "CUSHION PAD"),
    "CLOCK": ("WALL CLOCK", "ALARM CLOCK", "KITCHEN CLOCK", "CLOCK"),
    "FRAME": ("PHOTO FRAME", "PICTURE FRAME", "FRAME", "MINI FRAME"),
    "SIGN": ("METAL SIGN", "DOOR SIGN", "WALL SIGN", "SIGN"),
    "BOWL": ("BOWL", "SMALL BOWL", "SERVING BOWL", "BOWL SET"),
    "BOX": ("LUNCH BOX", "TRINKET BOX", "STORAGE BOX", "GIFT BOX"),
    "TIN": ("STORAGE TIN", "TIN", "TINS SET", "BISCUIT TIN"),
    "NOTEBOOK": ("NOTEBOOK", "A5 NOTEBOOK", "MINI NOTEBOOK", "NOTEBOOK SET"),
    "PARTY": ("PARTY BUNTING", "PARTY CONES", "PARTY BAGS", "PARTY CUPS"),
    "EASTER": ("EASTER DECORATION", "EASTER EGG", "EASTER BUNNY", "EASTER HEN"),
    "LANTERN": ("LANTERN", "HANGING LANTERN", "PAPER LANTERN", "METAL LANTERN"),
    "MIRROR": ("MIRROR", "WALL MIRROR", "COMPACT MIRROR", "MIRROR BALL"),
    "TEA": ("TEA TOWEL", "TEA SET", "TEA CUP AND SAUCER", "TEAPOT"),
    "DOORMAT": ("DOORMAT", "DOORMAT WELCOME", "DOORMAT HOME", "DOORMAT FLOWERS"),
    "BOTTLE": ("HOT WATER BOTTLE", "WATER BOTTLE", "BOTTLE", "MILK BOTTLE"),
    "JAR": ("GLASS JAR", "STORAGE JAR", "JAM JAR", "SWEETIE JAR"),
    "BUNTING": ("BUNTING", "FABRIC BUNTING", "PAPER BUNTING", "FLAG BUNTING"),
}
COLOURS = ("WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "CREAM", "SILVER", "GOLD",
           "PURPLE", "ORANGE", "YELLOW", "PASTEL BLUE", "LIGHT PINK", "FRENCH BLUE", "ANTIQUE",
           "VINTAGE", "GREY", "TURQUOISE")
MOTIFS = ("RETROSPOT", "POLKADOT", "REGENCY", "PAISLEY", "SPACEBOY", "DOLLY GIRL", "BIRD",
          "BUTTERFLY", "ROSE", "FLOWER", "STAR", "SKULL", "BABUSHKA", "WOODLAND", "SWALLOWS",
          "SPOTTY", "STRIPE", "GINGHAM", "ENGLISH ROSE", "LOVE", "FAIRY", "CHERRY BLOSSOM",
          "PANTRY", "VICTORIAN", "ZINC", "WOODEN", "GLASS", "CERAMIC", "ENAMEL", "FELT",
          "KNITTED", "FLORAL", "CIRCUS", "SKETCHBOOK", "JUNGLE", "COWBOY", "MOROCCAN", "SCANDINAVIAN",
          "ORIGAMI", "LOVEBIRD")
# prices the wholesaler actually uses (GBP); list prices are snapped to the nearest
PRICE_POINTS = np.array([0.19, 0.21, 0.29, 0.39, 0.42, 0.55, 0.65, 0.72, 0.79, 0.83, 0.85, 1.25,
                         1.45, 1.65, 1.69, 1.95, 2.10, 2.46, 2.55, 2.95, 3.25, 3.75, 4.15, 4.25,
                         4.95, 5.45, 5.95, 6.35, 6.75, 7.65, 7.95, 8.50, 9.95, 10.95, 12.75, 14.95,
                         16.95, 18.00, 24.95, 29.95, 39.95])
PACK_SIZES = np.array([1, 2, 3, 4, 6, 8, 10, 12, 24, 25])
PACK_SHARE = np.array([0.20, 0.13, 0.06, 0.08, 0.14, 0.03, 0.05, 0.21, 0.07, 0.03])
THEME_SHARE_SKEW = 0.6  # theme i gets share proportional to (i + 1) ** -skew
# shape of item popularity: lines of the item at each rank fraction, as in the real shop (a Zipf
# head, an exponential-looking middle, a long tail of items bought once or twice)
POPULARITY_RANK_FRACTION = np.array([0.0, 0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
                                     0.6, 0.7, 0.8, 0.9, 1.0])
POPULARITY_LINES = np.array([2035, 1408, 1083, 819, 531, 402, 284, 167, 111, 75, 49, 31, 18, 8, 3, 1])


@dataclass(frozen=True)
class Catalogue:
    stock_code: np.ndarray  # str objects
    description: np.ndarray  # str objects
    theme: np.ndarray  # theme index per product
    price: np.ndarray  # list price
    pack: np.ndarray  # usual quantity multiple
    popularity: np.ndarray  # sampling weight, sums to 1
    companions: np.ndarray  # (n_products, n_companions) product indices from the same theme
    by_theme: np.ndarray  # product indices sorted by theme
    by_theme_cumulative: np.ndarray  # cumulative popularity along `by_theme`, starts at 0
    theme_start: np.ndarray  # offsets of each theme in `by_theme`, len(themes) + 1
    theme_share: np.ndarray  # popularity mass of each theme

    def __len__(self) -> int:
        return len(self.stock_code)

    def sample_in_themes(self, themes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One product per entry of `themes`, by popularity within the theme."""
        low = self.by_theme_cumulative[self.theme_start[themes]]
        high = self.by_theme_cumulative[self.theme_start[themes + 1]]
        target = low + rng.random(len(themes)) * (high - low)
        position = np.searchsorted(self.by_theme_cumulative, target, side="right") - 1
        position = np.clip(position, self.theme_start[themes], self.theme_start[themes + 1] - 1)
        return self.by_theme[position]


def product_count(scale: float) -> int:
    """Catalogue size: ~4,150 products at scale 1, growing sublinearly, never below 600."""
    return max(600, int(round(4_150 * scale ** 0.35)))


def build_catalogue(n_products: int, rng: np.random.Generator, popularity_exponent: float = 1.35,
                    n_companions: int = 3) -> Catalogue:
    """Products with unique stock codes; colour variants share a base code with letter suffixes."""
    n_themes = len(THEMES)
    theme_names = list(THEMES)
    theme_weight = (np.arange(n_themes) + 1.0) ** -THEME_SHARE_SKEW
    theme = rng.choice(n_themes, size=n_products, p=theme_weight / theme_weight.sum())
    stock_code, variant_of = _stock_codes(n_products, rng)
    description = _descriptions(theme, variant_of, theme_names, rng)

    # the real shape with a little noise; a random order so popular items are in every theme
    rank_fraction = rng.permutation(n_products) / max(1, n_products - 1)
    log_lines = np.interp(rank_fraction, POPULARITY_RANK_FRACTION, np.log(POPULARITY_LINES))
    popularity = np.exp(popularity_exponent * log_lines) * rng.lognormal(0.0, 0.2, n_products)
    popularity /= popularity.sum()

    # log price skewed: a long cheap end (0.55 at p10), a shorter dear end (14.95 at p99)
    z = rng.standard_normal(n_products)
    log_price = np.log(1.95) + z * np.where(z < 0, 1.05, 0.85)
    price = PRICE_POINTS[np.abs(log_price[:, None] - np.log(PRICE_POINTS)[None, :]).argmin(axis=1)]
    # cheap items come in bigger packs, as wholesale does
    cheapness = np.argsort(np.argsort(-np.log(price) + rng.normal(0.0, 0.8, n_products)))
    pack = PACK_SIZES[np.searchsorted(np.cumsum(PACK_SHARE), (cheapness + 0.5) / n_products)]

    by_theme = np.lexsort((np.arange(n_products), theme))
    theme_start = np.searchsorted(theme[by_theme], np.arange(n_themes + 1))
    cumulative = np.concatenate([[0.0], np.cumsum(popularity[by_theme])])
    theme_share = np.diff(cumulative[theme_start])
    companions = _companions(theme, variant_of, by_theme, theme_start, n_companions, rng)
    return Catalogue(stock_code, description, theme, price, pack, popularity, companions,
                     by_theme, cumulative, theme_start, theme_share)


def _companions(theme: np.ndarray, variant_of: np.ndarray, by_theme: np.ndarray,
                theme_start: np.ndarray, n_companions: int, rng: np.random.Generator) -> np.ndarray:
    """Per product, `n_companions` products bought with it: its next colour variant, if any, then
    products of its theme drawn evenly (not by popularity, so the pair is specific)."""
    n = len(theme)
    size = theme_start[theme + 1] - theme_start[theme]
    picks = theme_start[theme][:, None] + np.floor(rng.random((n, n_companions)) * size[:, None])
    companions = by_theme[picks.astype(np.int64)]
    variants = np.bincount(variant_of, minlength=n)[variant_of]
    sibling = variant_of + (np.arange(n) - variant_of + 1) % variants
    companions[:, 0] = np.where(variants > 1, sibling, companions[:, 0])
    return companions


def _stock_codes(n_products: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Codes like 22423 or 85123A; returns codes and, per product, the index of its first variant."""
    variants = np.minimum(rng.geometric(0.75, size=n_products), 6)
    variants = variants[np.cumsum(variants) <= n_products]
    variants = np.concatenate([variants, np.ones(n_products - variants.sum(), dtype=np.int64)])
    n_bases = len(variants)
    bases = 20_000 + rng.choice(70_000, size=n_bases, replace=False)
    base_of = np.repeat(np.arange(n_bases), variants)
    first = np.repeat(np.cumsum(variants) - variants, variants)
    letter_index = np.arange(n_products) - first
    lettered = np.repeat(variants > 1, variants)
    letters = np.array(list("ABCDEFGH"), dtype=object)
    code = bases[base_of].astype(str).astype(object)
    code[lettered] = code[lettered] + letters[letter_index[lettered]]
    return code, first


def _descriptions(theme: np.ndarray, variant_of: np.ndarray, theme_names: list[str],
                  rng: np.random.Generator) -> np.ndarray:
    """Upper-case names "<COLOUR> <MOTIF> <NOUN>"; colour variants differ only by colour."""
    n = len(theme)
    nouns = np.array([noun for name in theme_names for noun in THEMES[name]], dtype=object)
    per_theme = len(THEMES[theme_names[0]])
    noun = nouns[theme * per_theme + rng.integers(0, per_theme, n)][variant_of]
    motif = np.array(MOTIFS, dtype=object)[rng.integers(0, len(MOTIFS), n)][variant_of]
    colour = np.array(COLOURS, dtype=object)[rng.integers(0, len(COLOURS), n)]
    return colour + " " + motif + " " + noun
