"""Bring a user's raw file into ``<raw_dir>/<format folder>/`` as Parquet, checked but not cleaned.

The importer only moves data: it checks the header against the kind's expected columns, keeps
every row (a cut-off last line is kept with its missing fields as null) and writes the expected
columns in their documented order. CSV and Excel values are written as text, so nothing is lost
or mis-typed here; parsing, and quarantining values that do not parse, is dbt staging's job.
Parquet inputs keep their column types, and the CDNOW master file (a fixed, clean format) is
written typed.

Choices worth knowing:
- Extra columns are dropped with a warning rather than refused: every file in a kind's folder then
  has the same schema (dbt reads the folder as one table), and an export with one extra column,
  such as a spreadsheet's row index, still imports.
- Bytes that are not valid UTF-8 are read as latin-1, one byte at a time, and reported in the
  result's warnings: a file that is mostly UTF-8 keeps its good characters intact.
- Nothing in the kind's folder changes until the new Parquet file is complete, so a failed import
  leaves the previous one in place.
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import datetime as dt
import difflib
import importlib.util
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl.utils.exceptions import InvalidFileException

from ml.data.formats import CDNOW, RAW_FORMATS, RawFormat

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ZIP_SUFFIXES = (".zip",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES + ZIP_SUFFIXES

# First bytes of the binary formats a text file is most often confused with.
MAGIC_BYTES = {
    b"PAR1": "a Parquet file",
    b"PK\x03\x04": "a zip archive or an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook",
}
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
EXCEL_ROWS_PER_BATCH = 50_000
IMPORT_MEMORY_LIMIT = "1GB"
TEXT_CHUNK_BYTES = 16 * 1024 * 1024
LATIN1_FALLBACK = "globalshop-latin1-fallback"


class RawFormatError(ValueError):
    """The file cannot be imported as the requested kind; the message says why and how to fix it."""


@dataclass
class ImportResult:
    kind: str
    source: Path
    written: Path
    rows: int
    columns: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Imported {self.rows:,} rows of {self.kind} from {self.source}",
                 f"  written to {self.written}"]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def import_file(kind: str, path: Path | None, raw_dir: Path, *, replace: bool = True) -> ImportResult:
    """Import one raw file of ``kind`` into ``raw_dir/<folder>/<input name>.parquet``.

    Accepts delimited text (.csv, .tsv, .txt; the delimiter is detected), Parquet, Excel .xlsx
    (every sheet with the kind's columns, stacked) and a .zip holding one such file. ``path`` may
    be None only for ``cdnow``, which then reads the CDNOW master file shipped with lifetimes.
    ``replace`` empties the kind's folder first so it holds one source of truth; without it the
    file is added beside the ones already imported. Raises RawFormatError when the file cannot be
    imported as ``kind``, before anything in ``raw_dir`` changes.
    """
    raw_format = _raw_format(kind)
    source = Path(path) if path is not None else _default_source(raw_format)
    _check_is_non_empty_file(source)
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    # The work folder starts with a dot so dbt's *.parquet globs never see a half-written file.
    with tempfile.TemporaryDirectory(prefix=".import-", dir=raw_dir) as work:
        work_dir = Path(work)
        data_file, label = source, str(source)
        if _suffix(source) in ZIP_SUFFIXES:
            data_file = _unzip_single_data_file(source, work_dir)
            label = f"{source}, file {data_file.name}"
        part = work_dir / "import.parquet"
        warnings = _write_parquet(raw_format, data_file, label, part, work_dir)
        rows = pq.ParquetFile(part).metadata.num_rows
        if rows == 0:
            raise RawFormatError(f"{source}: the file has a header but no data rows; "
                                 "nothing was imported.")
        written, publish_warnings = _publish(part, raw_dir / raw_format.folder, data_file.stem, replace)
    return ImportResult(kind=raw_format.kind, source=source, written=written, rows=rows,
                        columns=raw_format.columns, warnings=warnings + publish_warnings)


def _raw_format(kind: str) -> RawFormat:
    if kind not in RAW_FORMATS:
        raise RawFormatError(f"unknown kind {kind!r}; choose one of: {', '.join(RAW_FORMATS)}.")
    return RAW_FORMATS[kind]


def _default_source(raw_format: RawFormat) -> Path:
    if raw_format is not CDNOW:
        raise RawFormatError(f"kind {raw_format.kind!r} needs a file to import; give its path.")
    return cdnow_master_path()


def cdnow_master_path() -> Path:
    """The CDNOW master transaction file that ships inside the lifetimes package."""
    # find_spec locates the package without importing it (lifetimes.datasets imports pkg_resources).
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise RawFormatError("the lifetimes package is not installed, so CDNOW_master.txt cannot be "
                             "found; install lifetimes==0.11.3 or give the file's path.")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"


def _check_is_non_empty_file(source: Path) -> None:
    if not source.exists():
        raise RawFormatError(f"{source}: no such file.")
    if not source.is_file():
        raise RawFormatError(f"{source}: is a folder, not a file; give the path of one data file.")
    if source.stat().st_size == 0:
        raise RawFormatError(f"{source}: the file is empty.")
    if _suffix(source) not in SUPPORTED_SUFFIXES:
        raise RawFormatError(f"{source}: unsupported file type {source.suffix!r}; "
                             f"supported: {', '.join(SUPPORTED_SUFFIXES)}.")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _unzip_single_data_file(archive: Path, work_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [member for member in zipped.infolist() if _is_data_member(member)]
            if len(members) != 1:
                found = ", ".join(member.filename for member in members) or "none"
                raise RawFormatError(f"{archive}: expected exactly one data file in the zip, found "
                                     f"{found}; unzip it and import the file you mean.")
            extracted = zipped.extract(members[0], work_dir / "unzipped")
    except zipfile.BadZipFile as error:
        raise RawFormatError(f"{archive}: not a valid zip archive ({error}).") from error
    return Path(extracted)


def _is_data_member(member: zipfile.ZipInfo) -> bool:
    data_suffixes = TEXT_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES
    return (not member.is_dir() and not member.filename.startswith("__MACOSX/")
            and Path(member.filename).suffix.lower() in data_suffixes)


def _write_parquet(raw_format: RawFormat, data_file: Path, label: str, part: Path,
                   work_dir: Path) -> list[str]:
    """Write the kind's columns of ``data_file`` to ``part``; ``label`` names the file in messages."""
    suffix = _suffix(data_file)
    if suffix in PARQUET_SUFFIXES:
        return _parquet_to_parquet(raw_format, data_file, label, part, work_dir)
    if suffix in EXCEL_SUFFIXES:
        return _excel_to_parquet(raw_format, data_file, label, part)
    if raw_format is CDNOW and suffix == ".txt":
        return _cdnow_master_to_parquet(data_file, label, part)
    return _text_to_parquet(raw_format, data_file, label, part, work_dir)


def _check_header(raw_format: RawFormat, header: list[str], where: str) -> list[str]:
    """Raise when expected columns are missing or repeated; return warnings for extra columns."""
    expected = raw_format.columns
    missing = [column for column in expected if column not in header]
    if missing:
        raise RawFormatError(_missing_columns_message(raw_format, header, missing, where))
    repeated = sorted({column for column in expected if header.count(column) > 1})
    if repeated:
        raise RawFormatError(f"{where}: column(s) {_quoted(repeated)} appear more than once in the "
                             "header; rename or remove the copies.")
    extra = [column for column in header if column not in expected]
    if not extra:
        return []
    return [f"{where}: ignored {len(extra)} column(s) that {raw_format.kind} does not use: "
            f"{_quoted(extra)}."]


def _missing_columns_message(raw_format: RawFormat, header: list[str], missing: list[str],
                             where: str) -> str:
    lines = [f"{where}: missing column(s) {_quoted(missing)} for kind {raw_format.kind!r}.",
             f"  expected columns: {', '.join(raw_format.columns)}",
             f"  found columns:    {', '.join(header)}"]
    matching_kinds = [other.kind for other in RAW_FORMATS.values()
                      if other is not raw_format and set(other.columns) <= set(header)]
    if matching_kinds:
        lines.append(f"  this header matches kind {matching_kinds[0]!r}: "
                     "import the file as that kind instead.")
        return "\n".join(lines)
    for column in missing:
        close = difflib.get_close_matches(column, header, n=1, cutoff=0.75)
        if close:
            lines.append(f"  {column!r} may be spelled {close[0]!r} in this file; "
                         f"rename it to {column!r}.")
    return "\n".join(lines)


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _sql_string(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(raw_format: RawFormat) -> str:
    return ", ".join(_sql_identifier(column) for column in raw_format.columns)


def _parquet_to_parquet(raw_format: RawFormat, data_file: Path, label: str, part: Path,
                        work_dir: Path) -> list[str]:
    """Copy the expected columns with their types; a typed Parquet export stays typed."""
    with data_file.open("rb") as handle:
        head = handle.read(4)
        handle.seek(-4, os.SEEK_END)
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        looks_like = _looks_like(head)
        hint = f"it looks like {looks_like}" if looks_like else "it may be another format, or cut off"
        raise RawFormatError(f"{label}: not a Parquet file (no Parquet marker at its start and end); "
                             f"{hint}. Give it the extension of its real format.")
    header = pq.ParquetFile(data_file).schema_arrow.names
    warnings = _check_header(raw_format, header, label)
    with _connect(work_dir) as con:
        con.execute(f"copy (select {_select_list(raw_format)} from read_parquet"
                    f"({_sql_string(data_file)})) to {_sql_string(part)} (format parquet)")
    return warnings


def _connect(work_dir: Path) -> duckdb.DuckDBPyConnection:
    # COPY streams, but DuckDB fills up to 80% of RAM with buffers unless limited; a limit keeps a
    # 5 GB import near 1 GB of memory at the same speed, spilling to the work folder if needed.
    config = {"memory_limit": IMPORT_MEMORY_LIMIT, "temp_directory": str(work_dir)}
    return duckdb.connect(config=config)


def _looks_like(first_bytes: bytes) -> str | None:
    return next((name for magic, name in MAGIC_BYTES.items() if first_bytes.startswith(magic)), None)


def _excel_to_parquet(raw_format: RawFormat, data_file: Path, label: str, part: Path) -> list[str]:
    """Stack every sheet that holds the kind's columns, written as text like a CSV import."""
    try:
        workbook = openpyxl.load_workbook(data_file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise RawFormatError(f"{label}: not a readable Excel .xlsx workbook ({error}); if it is an "
                             "old .xls or a CSV, save it as .xlsx, or give it the .csv extension."
                             ) from error
    warnings: list[str] = []
    schema = pa.schema([(column, pa.string()) for column in raw_format.columns])
    try:
        with pq.ParquetWriter(part, schema) as writer:
            imported_sheets = 0
            for sheet in workbook.worksheets:
                rows = sheet.iter_rows(values_only=True)
                header = [_excel_header_cell(value) for value in next(rows, ())]
                where = f"{label}, sheet {sheet.title!r}"
                if not set(header) & set(raw_format.columns):
                    warnings.append(f"{where}: skipped, it has none of the {raw_format.kind} columns.")
                    continue
                warnings += _check_header(raw_format, _trim_trailing_blanks(header), where)
                positions = [header.index(column) for column in raw_format.columns]
                blank_rows = _write_excel_rows(rows, positions, schema, writer)
                if blank_rows:
                    warnings.append(f"{where}: skipped {blank_rows:,} blank row(s).")
                imported_sheets += 1
            if imported_sheets == 0:
                raise RawFormatError(f"{label}: no sheet has the {raw_format.kind} columns "
                                     f"({', '.join(raw_format.columns)}).")
    finally:
        workbook.close()
    return warnings


def _excel_header_cell(value: object) -> str:
    return "" if value is None else str(value)


def _trim_trailing_blanks(header: list[str]) -> list[str]:
    # Excel often reports formatted but empty cells right of the data as columns.
    while header and header[-1] == "":
        header = header[:-1]
    return header


def _write_excel_rows(rows: Iterator[tuple], positions: list[int], schema: pa.Schema,
                      writer: pq.ParquetWriter) -> int:
    """Write the sheet's rows in batches; return how many blank rows were skipped."""
    blank_rows = 0
    batch: list[list[str | None]] = []
    for row in rows:
        if all(value is None for value in row):
            blank_rows += 1
            continue
        batch.append([_excel_text(row[i]) if i < len(row) else None for i in positions])
        if len(batch) == EXCEL_ROWS_PER_BATCH:
            writer.write_table(_rows_to_table(batch, schema))
            batch = []
    if batch:
        writer.write_table(_rows_to_table(batch, schema))
    return blank_rows


def _rows_to_table(batch: list[list[str | None]], schema: pa.Schema) -> pa.Table:
    columns = [pa.array(values, pa.string()) for values in zip(*batch)]
    return pa.Table.from_arrays(columns, schema=schema)


def _excel_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _cdnow_master_to_parquet(data_file: Path, label: str, part: Path) -> list[str]:
    """The CDNOW master file: whitespace separated id, yyyymmdd date, CD count, dollar amount."""
    table = pd.read_csv(data_file, sep=r"\s+", header=None, dtype=str,
                        names=list(CDNOW.columns), encoding="latin-1")
    # lifetimes' copy has a header line; the original file does not.
    if len(table) and not table.iloc[0]["date"].isdigit():
        table = table.iloc[1:]
    try:
        transactions = pd.DataFrame({
            "customer_id": table["customer_id"],
            "date": pd.to_datetime(table["date"], format="%Y%m%d").dt.date,
            "quantity": pd.to_numeric(table["quantity"]).astype("int64"),
            "amount": pd.to_numeric(table["amount"]).astype("float64"),
        })
    except ValueError as error:
        raise RawFormatError(f"{label}: not a CDNOW master file (customer id, yyyymmdd date, number of "
                             f"CDs, dollar amount separated by spaces): {error}") from error
    table = pa.Table.from_pandas(transactions, preserve_index=False).replace_schema_metadata()
    pq.write_table(table, part)
    return []


class _NotUtf8(Exception):
    """DuckDB met bytes that are not UTF-8; the caller retries on a repaired copy."""


def _text_to_parquet(raw_format: RawFormat, data_file: Path, label: str, part: Path,
                     work_dir: Path) -> list[str]:
    first_bytes = _read_head(data_file)
    looks_like = _looks_like(first_bytes)
    if looks_like or (b"\x00" in first_bytes and not first_bytes.startswith(UTF16_BOMS)):
        what = looks_like or "a binary file"
        raise RawFormatError(f"{label}: this is {what}, not delimited text; "
                             "give it the extension of its real format (.parquet, .xlsx, .zip).")
    encoding = "utf-16" if first_bytes.startswith(UTF16_BOMS) else "utf-8"
    try:
        return _delimited_text_to_parquet(raw_format, data_file, label, part, work_dir, encoding)
    except _NotUtf8:
        pass
    repaired = work_dir / f"{data_file.stem}.utf8{data_file.suffix}"
    bad = _transcode_with_latin1_fallback(data_file, repaired)
    warnings = _delimited_text_to_parquet(raw_format, repaired, label, part, work_dir, "utf-8")
    return warnings + [f"{label}: {bad.count:,} byte(s) were not valid UTF-8 (the first on line "
                       f"{bad.first_line:,}); they were read as latin-1 (for example byte 0xA3 as "
                       "'£'). Check those values, or save the file as UTF-8."]


def _read_head(data_file: Path, size: int = 65_536) -> bytes:
    with data_file.open("rb") as handle:
        return handle.read(size)


def _delimited_text_to_parquet(raw_format: RawFormat, data_file: Path, label: str, part: Path,
                               work_dir: Path, encoding: str) -> list[str]:
    # all_varchar keeps every value as written; null_padding keeps a cut-off last line, its missing
    # fields null, so the warehouse can quarantine it with a reason instead of losing it.
    options = f"header=true, all_varchar=true, null_padding=true, encoding={_sql_string(encoding)}"
    file = _sql_string(data_file)
    try:
        with _connect(work_dir) as con:
            delimiter, quote = con.execute(
                f"select Delimiter, Quote from sniff_csv({file}, {options})").fetchall()[0]
            header = _header_fields(data_file, encoding, delimiter, quote)
            sniffed = con.execute(f"describe select * from read_csv({file}, {options})").fetchall()
            if len(sniffed) > len(header):
                raise RawFormatError(_long_rows_message(data_file, label, encoding, delimiter,
                                                        quote, len(header), len(sniffed)))
            warnings = _check_header(raw_format, header, label)
            options += f", delim={_sql_string(delimiter)}, quote={_sql_string(_duckdb_quote(quote))}"
            _copy_csv(con, data_file, part, raw_format, options)
    except duckdb.Error as error:
        # DuckDB's parallel reader does not always say "invalid unicode", so check the bytes.
        if encoding == "utf-8" and not _is_valid_utf8(data_file):
            raise _NotUtf8 from error
        raise RawFormatError(_csv_error_message(label, error)) from error
    return warnings + _short_last_line_warning(data_file, encoding, delimiter, quote, len(header),
                                               label)


def _long_rows_message(data_file: Path, label: str, encoding: str, delimiter: str, quote: str,
                       header_width: int, widest: int) -> str:
    """Say which line has more fields than the header, and what usually causes it."""
    message = (f"{label}: some rows have more fields ({widest}) than the header ({header_width}), "
               f"so their values cannot be placed")
    with data_file.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, **_csv_dialect(delimiter, quote))
        # line_num counts physical lines, so a value with a line break inside does not shift it
        long_row = next(((reader.line_num, row) for row in reader if len(row) > header_width), None)
    if long_row:
        number, row = long_row
        text = delimiter.join(row)
        message += (f"; the first is line {number:,} ({len(row)} fields): "
                    f"{text[:100]}{'...' if len(text) > 100 else ''}")
    message += (f". Check the delimiter ({delimiter!r} was detected) and the quoting of values that "
                "contain it")
    unbalanced = _first_line_with_unbalanced_quotes(data_file, encoding) if not _duckdb_quote(quote) else None
    if unbalanced:
        message += (f"; line {unbalanced:,} has an odd number of double quotes, so a quote there is "
                    "probably never closed, which stops quotes being read as quotes in the whole file")
    return message + "."


def _first_line_with_unbalanced_quotes(data_file: Path, encoding: str) -> int | None:
    with data_file.open(encoding=encoding, errors="replace", newline="") as handle:
        return next((number for number, line in enumerate(handle, start=1)
                     if line.count('"') % 2), None)


def _duckdb_quote(sniffed_quote: str) -> str:
    return "" if sniffed_quote == "(empty)" else sniffed_quote


def _copy_csv(con: duckdb.DuckDBPyConnection, data_file: Path, part: Path, raw_format: RawFormat,
              options: str) -> None:
    def copy(extra: str = "") -> None:
        con.execute(f"copy (select {_select_list(raw_format)} from read_csv({_sql_string(data_file)}, "
                    f"{options}{extra})) to {_sql_string(part)} (format parquet)")

    try:
        copy()
    except duckdb.Error as error:
        # DuckDB's parallel reader cannot pad short rows in files with line breaks inside quotes.
        if "quoted new lines" not in str(error):
            raise
        copy(", parallel=false")


def _header_fields(data_file: Path, encoding: str, delimiter: str, quote: str) -> list[str]:
    # DuckDB names the columns it pads "column<N>"; the header line says what the file declares.
    with data_file.open(encoding=encoding, errors="replace", newline="") as handle:
        first_line = handle.readline().lstrip("\ufeff")
    return next(csv.reader([first_line], **_csv_dialect(delimiter, quote)), [])


def _csv_dialect(delimiter: str, quote: str) -> dict:
    quote = _duckdb_quote(quote)
    if not quote:
        return {"delimiter": delimiter, "quoting": csv.QUOTE_NONE}
    return {"delimiter": delimiter, "quotechar": quote}


def _short_last_line_warning(data_file: Path, encoding: str, delimiter: str, quote: str,
                             header_width: int, where: str) -> list[str]:
    """Report a last line that was cut off mid-write: short of fields and without a line end."""
    if encoding != "utf-8":
        return []
    with data_file.open("rb") as handle:
        handle.seek(max(0, data_file.stat().st_size - 65_536))
        tail = handle.read()
    if tail.endswith(b"\n"):
        return []
    last_line = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace").rstrip("\r")
    fields = next(csv.reader([last_line], **_csv_dialect(delimiter, quote)), [])
    if len(fields) >= header_width:
        return []
    return [f"{where}: the last line has {len(fields)} of {header_width} fields and no line end, so "
            "the file was probably cut off; the line is kept with its missing fields empty, for the "
            "warehouse to quarantine."]


def _csv_error_message(label: str, error: Exception) -> str:
    # DuckDB's own message names the line; its list of parser options means little to a user.
    detail = str(error)
    for noise in ("Possible fixes:", "Possible Solution:", "The search space used was:"):
        detail = detail.split(noise)[0]
    message = f"{label}: cannot be read as delimited text.\n{detail.strip()}"
    if "invalid state" in detail or "sniffing" in detail:
        message += ("\nThe usual causes are a quote that is never closed, or line ends that change "
                    "within the file (Windows CRLF and Unix LF mixed); re-save the file with one kind.")
    return message


def _is_valid_utf8(data_file: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with data_file.open("rb") as source:
            while chunk := source.read(TEXT_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class _BadBytes:
    """What the latin-1 fallback met while transcoding one file."""

    count: int = 0
    first_line: int = 0
    lines_before_chunk: int = 0


_bad_bytes_seen: contextvars.ContextVar[_BadBytes] = contextvars.ContextVar("_bad_bytes_seen")


def _latin1_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = _bad_bytes_seen.get()
    if not bad.count:
        bad.first_line = bad.lines_before_chunk + error.object.count(b"\n", 0, error.start) + 1
    bad.count += error.end - error.start
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error(LATIN1_FALLBACK, _latin1_fallback)


def _transcode_with_latin1_fallback(data_file: Path, target: Path) -> _BadBytes:
    """Write a UTF-8 copy of the file, reading each byte that is not valid UTF-8 as latin-1."""
    bad = _BadBytes()
    token = _bad_bytes_seen.set(bad)
    # The incremental decoder carries a character split between chunks over to the next chunk.
    decoder = codecs.getincrementaldecoder("utf-8")(errors=LATIN1_FALLBACK)
    try:
        with data_file.open("rb") as source, \
                target.open("w", encoding="utf-8", newline="") as output:
            while chunk := source.read(TEXT_CHUNK_BYTES):
                text = decoder.decode(chunk)
                bad.lines_before_chunk += text.count("\n")
                output.write(text)
            output.write(decoder.decode(b"", final=True))
    finally:
        _bad_bytes_seen.reset(token)
    return bad


def _publish(part: Path, folder: Path, stem: str, replace: bool) -> tuple[Path, list[str]]:
    """Move the finished file into the kind's folder, first emptying it when replacing."""
    folder.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    if replace:
        for old in folder.iterdir():
            if old.is_file():
                old.unlink()
    else:
        warnings += _schema_mismatch_warnings(part, folder)
    target = folder / f"{stem}.parquet"
    if target.exists():
        number = 2
        while (folder / f"{stem}_{number}.parquet").exists():
            number += 1
        target = folder / f"{stem}_{number}.parquet"
        warnings.append(f"{folder / f'{stem}.parquet'} was already imported; this import was added as "
                        f"{target.name}. If it is the same data, its rows now count twice: "
                        "import again with replace to keep one copy.")
    os.replace(part, target)
    return target, warnings


def _schema_mismatch_warnings(part: Path, folder: Path) -> list[str]:
    # dbt reads the folder as one table, which fails when a column is text in one file and a
    # number in another (a typed Parquet export beside a CSV import).
    types = _column_types(part)
    differing = [old.name for old in sorted(folder.glob("*.parquet")) if _column_types(old) != types]
    if not differing:
        return []
    return [f"column types differ from {', '.join(differing)} in {folder}, so reading the folder as "
            "one table may fail; import files of one file type, or import this one alone (replace)."]


def _column_types(parquet_file: Path) -> list[str]:
    # string and large_string are both text to DuckDB; nullability does not matter when reading.
    return [str(column.type).removeprefix("large_") for column in pq.read_schema(parquet_file)]
