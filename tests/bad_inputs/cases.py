"""The bad input corpus: every file in this folder, with the outcome it must have.

Two outcomes only, never a crash with a stack trace and never a silent drop:

- REFUSED: `globalshop data import` (or `globalshop build`, for a file copied into data/raw by hand)
  exits with a message that names the file and says what is wrong and how to fix it, and writes
  nothing. ``message`` lists fragments the message must contain.
- ACCEPTED: the file is imported and every row is either clean or quarantined with its reason, and
  counted in data_quality.source_reconciliation. ``quarantined`` maps each reason to its count;
  ``clean`` counts the rows that reach the marts; ``warning`` is a fragment the importer must report.

The accepted files are imported side by side into one shop and built once, with the settings of a
UCI-like shop (CORPUS_VARS): it opened on 2009-12-01, and no line holds more than 10,000 units.
Each file uses its own invoice numbers and users, so rules that compare rows (duplicates) act only
within the file that declares them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

CORPUS_DIR = Path(__file__).resolve().parent
CORPUS_VARS = {"shop_opened_on": "2009-12-01", "max_line_quantity": 10_000}


@dataclass(frozen=True)
class Accepted:
    file: str
    kind: str
    clean: int
    quarantined: dict[str, int]
    warning: str | None = None
    imports: int = 1  # imported this many times (with --append)
    make: Callable[[Path], None] | None = None  # writes the file, for binary inputs

    @property
    def rows(self) -> int:
        return self.clean + sum(self.quarantined.values())


@dataclass(frozen=True)
class Refused:
    file: str
    kind: str
    message: tuple[str, ...]
    make: Callable[[Path], None] | None = None


def write_typed_parquet_with_wrong_types(path: Path) -> None:
    """A typed Parquet export whose Quantity is a float column and CustomerID text."""
    table = pa.table({
        "InvoiceNo": ["550001", "550001"],
        "StockCode": ["21931", "21929"],
        "Description": ["JUMBO STORAGE BAG SUKI", "JUMBO BAG PINK VINTAGE PAISLEY"],
        "Quantity": pa.array([10.0, 2.5], pa.float64()),
        "InvoiceDate": pa.array([1_302_163_200, 1_302_163_260], pa.timestamp("s")),
        "UnitPrice": pa.array([2.08, 2.08], pa.float64()),
        "CustomerID": ["12431.0", "12431.0"],
        "Country": ["Australia", "Australia"],
    })
    pq.write_table(table, path)


def write_parquet_named_csv(path: Path) -> None:
    """A Parquet file given the .csv extension."""
    pq.write_table(pa_csv.read_csv(CORPUS_DIR / "invoice_lines" / "customer_ids_as_floats.csv"), path)


ACCEPTED = [
    Accepted("invoice_lines/customer_ids_as_floats.csv", "online-retail", clean=3,
             quarantined={"non_integer_customer_id": 1}),
    Accepted("invoice_lines/wrong_column_types.csv", "online-retail", clean=2, quarantined={
        "unreadable_invoice_date": 1, "non_integer_quantity": 1, "non_finite_price": 1}),
    Accepted("invoice_lines/typed_parquet_with_wrong_types.parquet", "online-retail", clean=1,
             quarantined={"non_integer_quantity": 1}, warning="column types differ",
             make=write_typed_parquet_with_wrong_types),
    Accepted("invoice_lines/zero_and_negative_prices.csv", "online-retail", clean=1,
             quarantined={"non_positive_price": 2}),
    Accepted("invoice_lines/absurd_quantities.csv", "online-retail", clean=1,
             quarantined={"absurd_quantity": 2}),
    Accepted("invoice_lines/dates_out_of_range.csv", "online-retail", clean=1,
             quarantined={"date_in_future": 1, "date_before_shop_opened": 2}),
    Accepted("invoice_lines/duplicate_lines.csv", "online-retail", clean=2,
             quarantined={"duplicate_line": 2}),
    # the second import's rows are all copies of the first's
    Accepted("invoice_lines/imported_twice.csv", "online-retail", clean=2,
             quarantined={"duplicate_line": 2}, warning="was already imported", imports=2),
    Accepted("invoice_lines/truncated_last_line.csv", "online-retail", clean=2,
             quarantined={"missing_country": 1}, warning="the file was probably cut off"),
    Accepted("invoice_lines/ragged_short_line.csv", "online-retail", clean=2,
             quarantined={"missing_country": 1}),
    # values padded with spaces are trimmed: the second line is the first once trimmed, and a
    # country of spaces is no country
    Accepted("invoice_lines/padded_values.csv", "online-retail", clean=2,
             quarantined={"duplicate_line": 1, "missing_country": 1}),
    Accepted("invoice_lines/mis_encoded_text.csv", "online-retail", clean=2, quarantined={},
             warning="1 byte(s) were not valid UTF-8 (the first on line 3)"),
    Accepted("events/unknown_event_types.csv", "events", clean=2,
             quarantined={"unknown_event_type": 2}),
    Accepted("events/event_prices.csv", "events", clean=1, quarantined={
        "non_positive_price": 1, "negative_price": 1, "non_finite_price": 1}),
    Accepted("events/event_dates.csv", "events", clean=1, quarantined={
        "date_in_future": 1, "date_before_shop_opened": 1, "unreadable_event_time": 1}),
    Accepted("events/duplicate_events.csv", "events", clean=1, quarantined={"duplicate_event": 1}),
    Accepted("events/truncated_last_line.csv", "events", clean=1,
             quarantined={"missing_user_session": 1}, warning="the file was probably cut off"),
    Accepted("invoice_lines/unparseable_numbers.csv", "online-retail", clean=1, quarantined={
        "unreadable_quantity": 1, "unreadable_unit_price": 1, "unreadable_customer_id": 2}),
    Accepted("events/unparseable_price.csv", "events", clean=1, quarantined={"unreadable_price": 1}),
]

HEADER_FIX = "expected columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice"

REFUSED = [
    Refused("refused/missing_column.csv", "online-retail",
            ("missing column(s) 'UnitPrice'", HEADER_FIX)),
    Refused("refused/misspelled_column.csv", "online-retail",
            ("missing column(s) 'UnitPrice'", "rename it to 'UnitPrice'")),
    Refused("refused/events_file_given_as_invoices.csv", "online-retail",
            ("this header matches kind 'events'", "import the file as that kind instead")),
    Refused("refused/duplicate_header_column.csv", "online-retail",
            ("'Quantity' appear more than once", "rename or remove the copies")),
    Refused("refused/empty.csv", "online-retail", ("the file is empty",)),
    Refused("refused/header_only.csv", "online-retail", ("header but no data rows",)),
    Refused("refused/ragged_long_line.csv", "online-retail",
            ("more fields (9) than the header (8)", "the first is line 3", "Check the delimiter")),
    Refused("refused/unclosed_quote.csv", "online-retail",
            ("more fields", "line 3 has an odd number of double quotes", "never closed")),
    Refused("refused/csv_named.parquet", "online-retail",
            ("not a Parquet file", "Give it the extension of its real format")),
    Refused("refused/csv_named.xlsx", "online-retail",
            ("not a readable Excel .xlsx workbook", "give it the .csv extension")),
    Refused("refused/parquet_named.csv", "online-retail",
            ("this is a Parquet file, not delimited text", "give it the extension of its real format"),
            make=write_parquet_named_csv),
]


def corpus_file(case: Accepted | Refused, work_dir: Path) -> Path:
    """The case's file: in this folder, or written into ``work_dir`` by the case's ``make``."""
    if case.make is None:
        return CORPUS_DIR / case.file
    path = work_dir / case.file
    path.parent.mkdir(parents=True, exist_ok=True)
    case.make(path)
    return path


def case_id(case: Accepted | Refused) -> str:
    return Path(case.file).stem if case.kind != "events" else f"events-{Path(case.file).stem}"

