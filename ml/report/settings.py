"""The report's business assumptions: every one has a default, can be overridden, and is printed."""

from dataclasses import dataclass, field, fields

# Currencies are not recorded in the raw files; these are the public data sets' own.
DEFAULT_CURRENCIES = {"online_retail": "GBP", "online_retail_ii": "GBP", "events": "USD",
                      "cdnow": "USD"}


@dataclass(frozen=True)
class ReportSettings:
    """Assumptions the report's money figures rest on (amounts in each source's currency)."""

    contact_cost: float = 5.0
    """Cost of contacting one customer in a retention campaign (offer, email, call centre)."""
    expected_save_rate: float = 0.15
    """Share of would-be churners a contact keeps as customers."""
    gross_margin: float = 0.30
    """Share of revenue that is profit, before the campaign's costs."""
    annual_discount_rate: float = 0.10
    """Discount rate for the next 12 months' revenue of a customer kept."""
    cross_sell_take_rate: float = 0.02
    """Share of baskets with product A but not B that add B when B is recommended beside A."""
    long_term_days: int = 180
    """A customer whose first order is at least this many days before an order is long-term."""
    top_pairs: int = 10
    """Cross-sell pairs listed."""
    main_source: str | None = None
    """The shop the one-page summary describes; default: the invoice source with most orders."""
    currencies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CURRENCIES))
    """Currency of each source's amounts."""

    def currency(self, source: str) -> str:
        return self.currencies.get(source, "currency units")

    def described(self) -> list[tuple[str, str, str]]:
        """(name, value, meaning) of every assumption, for the report's assumptions table."""
        meanings = _attribute_docstrings()
        return [(item.name, str(getattr(self, item.name)), meanings.get(item.name, ""))
                for item in fields(self)]


def _attribute_docstrings() -> dict[str, str]:
    # The meaning of each setting is the string literal under it: one place to read and to print.
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(ReportSettings))
    body = tree.body[0].body
    meanings = {}
    for previous, node in zip(body, body[1:]):
        if (isinstance(previous, ast.AnnAssign) and isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            meanings[previous.target.id] = node.value.value
    return meanings
