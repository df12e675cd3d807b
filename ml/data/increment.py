"""Daily increments made from a generated (or imported) shop, to exercise and time incremental builds.

``split_last_day`` takes the rows of a source's last day out of its raw part files and keeps them
in a held-back file outside ``data/raw`` (dbt never reads it); ``add_increment`` puts such a file
back as the source's next part file, as a daily export would arrive. Both are deterministic: rows
keep their order, and the same shop always gives the same files.

    split_last_day(raw_dir)            # data/raw/events/part-*.parquet lose 2019-12-31
    ... globalshop build ...           # the shop as of the day before
    add_increment(raw_dir, held_back)  # data/raw/events/part-00001.parquet = 2019-12-31
    ... globalshop build ...           # processes that day incrementally
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The column that dates a row, per raw folder (formats in ml/data/formats.py).
TIME_COLUMNS = {
    "events": "event_time",
    "online_retail": "InvoiceDate",
    "online_retail_ii": "InvoiceDate",
    "cdnow": "date",
}
HELD_BACK_FOLDER = "held_back"
PART_NAME = re.compile(r"part-(\d+)\.parquet$")


def row_dates(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The calendar day of each row (null when unreadable): timestamps, dates, or text such as
    '2019-10-01 00:00:00 UTC', '2010-12-01 08:26:00', '12/1/2010 8:26' or '19970101'."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        return pc.cast(column, pa.date32())
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    text = pc.replace_substring(text, " UTC", "")
    days = None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%Y%m%d"):
        parsed = pc.cast(pc.strptime(text, format=pattern, unit="s", error_is_null=True), pa.date32())
        days = parsed if days is None else pc.coalesce(days, parsed)
    return days


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


def last_day(raw_dir: Path, folder: str = "events") -> dt.date:
    """The newest day with rows in ``raw_dir/folder``."""
    column = TIME_COLUMNS[folder]
    newest = [pc.max(row_dates(pq.read_table(part, columns=[column])[column])).as_py()
              for part in _parts(raw_dir / folder)]
    newest = [day for day in newest if day is not None]
    if not newest:
        raise ValueError(f"{raw_dir / folder} has no dated rows")
    return max(newest)


def held_back_path(raw_dir: Path, folder: str, day: dt.date) -> Path:
    """Where the rows of ``day`` are kept: beside data/raw, never under it."""
    return raw_dir.parent / HELD_BACK_FOLDER / folder / f"{day.isoformat()}.parquet"


def split_last_day(raw_dir: Path, folder: str = "events", day: dt.date | None = None) -> Path:
    """Move the rows of ``day`` (default: the folder's last day) out of the part files of
    ``raw_dir/folder`` into a held-back file, and return its path.

    Part files are rewritten without those rows (in their order); the held-back file holds them in
    part-file order. Raises ValueError when the day has no rows.
    """
    day = day or last_day(raw_dir, folder)
    column = TIME_COLUMNS[folder]
    held_back, schema = [], None
    for part in _parts(raw_dir / folder):
        table = pq.read_table(part)
        on_day = pc.fill_null(pc.equal(row_dates(table[column]), pa.scalar(day, pa.date32())), False)
        if not pc.any(on_day).as_py():
            continue
        held_back.append(table.filter(on_day))
        schema = schema or table.schema
        pq.write_table(table.filter(pc.invert(on_day)), part, compression="snappy")
    if not held_back:
        raise ValueError(f"{raw_dir / folder} has no rows on {day}")
    target = held_back_path(raw_dir, folder, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(held_back, promote_options="permissive"), target,
                   compression="snappy")
    return target


def split_last_days(raw_dir: Path, folder: str, min_rows: int) -> list[Path]:
    """Split off the folder's last days, one held-back file per day (``split_last_day``), until
    they hold at least ``min_rows`` rows; return the files, oldest day first."""
    held_back, rows = [], 0
    while rows < min_rows:
        held_back.insert(0, split_last_day(raw_dir, folder))
        rows += pq.ParquetFile(held_back[0]).metadata.num_rows
    return held_back


def next_part_path(folder: Path) -> Path:
    """part-NNNNN.parquet after the highest numbered part file of ``folder``."""
    numbers = [int(match.group(1)) for part in folder.glob("part-*.parquet")
               if (match := PART_NAME.search(part.name))]
    return folder / f"part-{max(numbers, default=-1) + 1:05d}.parquet"


def add_increment(raw_dir: Path, increment: Path, folder: str = "events",
                  extra_rows: pa.Table | None = None) -> Path:
    """Add the rows of ``increment`` (a held-back file, or any file of the folder's format), plus
    ``extra_rows`` if given, to ``raw_dir/folder`` as its next part file; return the new file.

    The file is written under a hidden name first and renamed, so a build never sees half of it.
    """
    table = pq.read_table(increment)
    if extra_rows is not None:
        table = pa.concat_tables([table, extra_rows.select(table.column_names).cast(table.schema)])
    target = next_part_path(raw_dir / folder)
    partial = target.with_name("." + target.name)
    pq.write_table(table, partial, compression="snappy")
    partial.rename(target)
    return target
