"""Importing users' raw files: real files keep every row, bad files fail before anything is written."""

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml.data import importer
from ml.data.formats import CUSTOMER_PROFILES, EVENTS, ONLINE_RETAIL, ONLINE_RETAIL_II
from ml.data.importer import ImportResult, RawFormatError, import_file

ONLINE_RETAIL_II_SHEETS = {
    "Year 2009-2010": [
        ["489434", "85048", "15CM CHRISTMAS GLASS BALL 20 LIGHTS", 12, dt.datetime(2009, 12, 1, 7, 45),
         6.95, 13085, "United Kingdom"],
        ["C489449", "22087", "PAPER BUNTING WHITE LACE", -12, dt.datetime(2009, 12, 1, 10, 33), 2.95,
         None, "Australia"],
    ],
    "Year 2010-2011": [
        [536365, "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, dt.datetime(2010, 12, 1, 8, 26), 2.55,
         17850, "United Kingdom"],
    ],
}


def write_online_retail_ii_xlsx(path: Path) -> Path:
    """A small workbook shaped like UCI's online_retail_II.xlsx: two yearly sheets, one header each."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in ONLINE_RETAIL_II_SHEETS.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(ONLINE_RETAIL_II.columns))
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def events_csv(rows: list[str], delimiter: str = ",") -> str:
    return "\n".join([delimiter.join(EVENTS.columns), *rows]) + "\n"


EVENT_ROW = "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde"


def read_written(result: ImportResult) -> pd.DataFrame:
    return pq.read_table(result.written).to_pandas()


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return tmp_path / "raw"


# Real files: exact row counts, nothing dropped.

@pytest.mark.real_data
def test_uci_online_retail_parquet_keeps_every_row_and_its_types(online_retail_file, raw_dir):
    result = import_file("online-retail", online_retail_file, raw_dir)

    assert result.rows == 541_909
    assert result.written == raw_dir / "online_retail" / "online_retail.parquet"
    assert result.warnings == []
    schema = pq.read_schema(result.written)
    assert tuple(schema.names) == ONLINE_RETAIL.columns
    assert schema.field("Quantity").type == pa.int64()
    assert pq.ParquetFile(result.written).metadata.num_rows == 541_909


@pytest.mark.real_data
def test_event_sample_keeps_its_cut_off_last_line_with_nulls(events_sample_file, raw_dir):
    result = import_file("events", events_sample_file, raw_dir)

    assert result.rows == 17_435
    events = read_written(result)
    assert len(events) == 17_435
    cut_off = events[events["user_session"].isna()]
    assert len(cut_off) == 1
    assert cut_off.iloc[0]["user_id"] == "52040330"
    assert cut_off.index[0] == len(events) - 1
    assert any("8 of 9 fields" in warning for warning in result.warnings)
    assert all(pa.types.is_string(field.type) for field in pq.read_schema(result.written))


@pytest.mark.real_data
def test_customer_profiles_tab_separated_file_is_read_as_text(customer_profiles_file, raw_dir):
    result = import_file("customer-profiles", customer_profiles_file, raw_dir)

    assert result.rows == 2_240
    profiles = read_written(result)
    assert tuple(profiles.columns) == CUSTOMER_PROFILES.columns
    assert profiles["Income"].isna().sum() == 24
    assert profiles.loc[profiles["ID"] == "5524", "Dt_Customer"].item() == "04-09-2012"


def test_cdnow_without_a_path_reads_the_file_shipped_with_lifetimes(raw_dir):
    result = import_file("cdnow", None, raw_dir)

    transactions = read_written(result)
    # The published CDNOW master figures: 69,659 transactions by 23,570 customers, 1997-01 to 1998-06.
    assert result.rows == 69_659
    assert transactions["customer_id"].nunique() == 23_570
    assert str(transactions["date"].min()) == "1997-01-01"
    assert str(transactions["date"].max()) == "1998-06-30"
    assert transactions.iloc[0].to_dict() == {"customer_id": "00001", "date": dt.date(1997, 1, 1),
                                              "quantity": 1, "amount": 11.77}


def test_cdnow_master_file_without_header_is_read_too(tmp_path, raw_dir):
    lines = " 00001 19970101  1   11.77\r\n 00002 19970112  2   12.00\r\n"
    source = write_text(tmp_path / "CDNOW_master.txt", lines)

    transactions = read_written(import_file("cdnow", source, raw_dir))

    assert transactions["customer_id"].tolist() == ["00001", "00002"]
    assert transactions["quantity"].tolist() == [1, 2]


# Delimited text.

@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_any_delimiter_is_detected_and_values_stay_as_written(tmp_path, raw_dir, delimiter):
    rows = [delimiter.join(["2019-10-01 00:00:00 UTC", "view", "007", "2103807459595387724", "", "shiseido",
                            "35.790", "541312140", "72d76fde"])] * 3
    source = write_text(tmp_path / "events.csv", events_csv(rows, delimiter))

    result = import_file("events", source, raw_dir)

    events = read_written(result)
    assert result.rows == 3
    assert events.loc[0, "product_id"] == "007"
    assert events.loc[0, "price"] == "35.790"
    assert pd.isna(events.loc[0, "category_code"])


def test_quoted_delimiters_and_line_breaks_stay_inside_their_value(tmp_path, raw_dir):
    header = ",".join(ONLINE_RETAIL.columns)
    source = write_text(tmp_path / "lines.csv",
                        f'{header}\n536365,85123A,"HEART, WHITE",6,2010-12-01 08:26:00,2.55,17850,UK\n'
                        f'536366,22633,"TWO\nLINES",6,2010-12-01 08:28:00,1.85,17850,UK\n')

    descriptions = read_written(import_file("online-retail", source, raw_dir))["Description"].tolist()

    assert descriptions == ["HEART, WHITE", "TWO\nLINES"]


def test_a_byte_order_mark_does_not_rename_the_first_column(tmp_path, raw_dir):
    source = tmp_path / "events.csv"
    source.write_bytes(b"\xef\xbb\xbf" + events_csv([EVENT_ROW]).encode())

    assert import_file("events", source, raw_dir).rows == 1


def test_latin1_bytes_in_a_utf8_file_are_decoded_and_reported(tmp_path, raw_dir):
    header = ",".join(ONLINE_RETAIL.columns)
    source = tmp_path / "mixed.csv"
    source.write_bytes(f"{header}\n1,A,GIFT VOUCHER £10,1,2010-12-01 08:26:00,10,1,UK\n".encode()
                       + "2,B,GIFT VOUCHER £20,1,2010-12-01 08:26:00,20,1,UK\n".encode("latin-1"))

    result = import_file("online-retail", source, raw_dir)

    descriptions = read_written(result)["Description"].tolist()
    assert descriptions == ["GIFT VOUCHER £10", "GIFT VOUCHER £20"]
    reported = "1 byte(s) were not valid UTF-8 (the first on line 3)"
    assert any(reported in warning for warning in result.warnings)


def test_transcoding_keeps_characters_split_between_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "TEXT_CHUNK_BYTES", 3)
    source = tmp_path / "split.csv"
    source.write_bytes("a\n££\n".encode() + b"\xa3\n")

    bad = importer._transcode_with_latin1_fallback(source, tmp_path / "out.csv")

    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "a\n££\n£\n"
    assert (bad.count, bad.first_line) == (1, 3)


def test_extra_columns_are_dropped_with_a_warning(tmp_path, raw_dir):
    header = ",".join(("row_index", *EVENTS.columns))
    source = write_text(tmp_path / "events.csv", f"{header}\n0,{EVENT_ROW}\n")

    result = import_file("events", source, raw_dir)

    assert pq.read_schema(result.written).names == list(EVENTS.columns)
    assert any("'row_index'" in warning for warning in result.warnings)


def test_rows_longer_than_the_header_are_refused(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.csv", events_csv([EVENT_ROW + ",surplus"]))

    with pytest.raises(RawFormatError, match="more fields"):
        import_file("events", source, raw_dir)


def test_a_bad_row_beyond_the_sniffed_sample_is_reported_with_its_line(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.csv", events_csv([EVENT_ROW] * 30_000 + [EVENT_ROW + ",surplus"]))

    with pytest.raises(RawFormatError, match="cannot be read as delimited text(.|\n)*Line: 30002"):
        import_file("events", source, raw_dir)


def test_mixed_line_ends_get_a_hint_about_the_cause(tmp_path, raw_dir):
    source = tmp_path / "events.csv"
    windows_lines = events_csv([EVENT_ROW] * 5).replace("\n", "\r\n")
    source.write_bytes(f"{windows_lines}{EVENT_ROW}\n".encode())

    with pytest.raises(RawFormatError, match="line ends that change within the file"):
        import_file("events", source, raw_dir)


# Header checks.

def test_a_missing_column_names_the_file_the_column_and_the_expected_columns(tmp_path, raw_dir):
    header = ",".join(column for column in EVENTS.columns if column != "brand")
    source = write_text(tmp_path / "events.csv", f"{header}\n" + EVENT_ROW.replace(",shiseido", "") + "\n")

    with pytest.raises(RawFormatError) as raised:
        import_file("events", source, raw_dir)

    message = str(raised.value)
    assert str(source) in message
    assert "missing column(s) 'brand'" in message
    assert ", ".join(EVENTS.columns) in message
    assert not raw_dir.joinpath("events").exists()


def test_an_online_retail_ii_file_given_as_online_retail_suggests_the_right_kind(tmp_path, raw_dir):
    source = write_online_retail_ii_xlsx(tmp_path / "online_retail_II.xlsx")

    with pytest.raises(RawFormatError, match="'InvoiceNo', 'UnitPrice', 'CustomerID'") as raised:
        import_file("online-retail", source, raw_dir)

    assert "import the file as that kind instead" in str(raised.value)
    assert "'online-retail-ii'" in str(raised.value)


def test_a_near_miss_column_name_gets_a_spelling_hint(tmp_path, raw_dir):
    header = ",".join(EVENTS.columns).replace("user_session", "user_sesion")
    source = write_text(tmp_path / "events.csv", f"{header}\n{EVENT_ROW}\n")

    with pytest.raises(RawFormatError, match="'user_session' may be spelled 'user_sesion'"):
        import_file("events", source, raw_dir)


# Files that are not what they say.

def test_an_empty_file_is_refused(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.csv", "")

    with pytest.raises(RawFormatError, match="the file is empty"):
        import_file("events", source, raw_dir)


def test_a_header_without_rows_is_refused_and_writes_nothing(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.csv", events_csv([]))

    with pytest.raises(RawFormatError, match="no data rows"):
        import_file("events", source, raw_dir)

    assert not raw_dir.joinpath("events").exists()


def test_a_parquet_file_named_csv_is_refused(tmp_path, raw_dir):
    source = tmp_path / "events.csv"
    pq.write_table(pa.table({column: ["x"] for column in EVENTS.columns}), source)

    with pytest.raises(RawFormatError, match="this is a Parquet file, not delimited text"):
        import_file("events", source, raw_dir)


def test_a_csv_named_parquet_is_refused(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.parquet", events_csv([EVENT_ROW]))

    with pytest.raises(RawFormatError, match="not a Parquet file"):
        import_file("events", source, raw_dir)


def test_a_csv_named_xlsx_is_refused(tmp_path, raw_dir):
    source = write_text(tmp_path / "online_retail_II.xlsx", events_csv([EVENT_ROW]))

    with pytest.raises(RawFormatError, match="not a readable Excel .xlsx workbook"):
        import_file("online-retail-ii", source, raw_dir)


@pytest.mark.parametrize(("kind", "path", "message"), [
    ("orders", "x.csv", "unknown kind 'orders'; choose one of: online-retail, "),
    ("events", None, "needs a file to import"),
    ("events", "absent.csv", "no such file"),
])
def test_wrong_arguments_get_a_clear_error(tmp_path, raw_dir, kind, path, message):
    with pytest.raises(RawFormatError, match=message):
        import_file(kind, tmp_path / path if path else None, raw_dir)


def test_an_unsupported_extension_is_refused(tmp_path, raw_dir):
    source = write_text(tmp_path / "events.json", "{}")

    with pytest.raises(RawFormatError, match="unsupported file type '.json'"):
        import_file("events", source, raw_dir)


# Parquet, Excel and zip.

def test_parquet_keeps_the_expected_columns_in_order(tmp_path, raw_dir):
    source = tmp_path / "events.parquet"
    columns = {"extra": [1], **{column: ["x"] for column in reversed(EVENTS.columns)}}
    pq.write_table(pa.table(columns), source)

    result = import_file("events", source, raw_dir)

    assert pq.read_schema(result.written).names == list(EVENTS.columns)
    assert result.rows == 1


def test_both_online_retail_ii_sheets_are_stacked_as_text(tmp_path, raw_dir):
    source = write_online_retail_ii_xlsx(tmp_path / "online_retail_II.xlsx")

    result = import_file("online-retail-ii", source, raw_dir)

    lines = read_written(result)
    assert result.rows == 3
    assert result.written.name == "online_retail_II.parquet"
    assert lines["Invoice"].tolist() == ["489434", "C489449", "536365"]
    assert lines.loc[0, "InvoiceDate"] == "2009-12-01 07:45:00"
    assert lines.loc[0, "Price"] == "6.95"
    assert lines.loc[0, "Customer ID"] == "13085"
    assert pd.isna(lines.loc[1, "Customer ID"])


def test_a_sheet_missing_a_column_is_named_in_the_error(tmp_path, raw_dir):
    source = write_online_retail_ii_xlsx(tmp_path / "online_retail_II.xlsx")
    workbook = openpyxl.load_workbook(source)
    workbook["Year 2010-2011"]["F1"] = "Prices"
    workbook.save(source)

    with pytest.raises(RawFormatError, match="sheet 'Year 2010-2011': missing column\\(s\\) 'Price'"):
        import_file("online-retail-ii", source, raw_dir)


def test_a_zip_holding_one_workbook_is_imported_like_the_workbook(tmp_path, raw_dir):
    workbook = write_online_retail_ii_xlsx(tmp_path / "online_retail_II.xlsx")
    archive = tmp_path / "online+retail+ii.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(workbook, workbook.name)

    result = import_file("online-retail-ii", archive, raw_dir)

    assert (result.source, result.rows) == (archive, 3)
    assert result.written == raw_dir / "online_retail_ii" / "online_retail_II.parquet"


# One source of truth.

def test_replace_empties_the_kind_folder_and_append_adds_a_file(tmp_path, raw_dir):
    first = write_text(tmp_path / "october.csv", events_csv([EVENT_ROW]))
    second = write_text(tmp_path / "november.csv", events_csv([EVENT_ROW] * 2))
    folder = raw_dir / "events"

    import_file("events", first, raw_dir)
    import_file("events", second, raw_dir)
    assert sorted(path.name for path in folder.iterdir()) == ["november.parquet"]

    appended = import_file("events", first, raw_dir, replace=False)
    again = import_file("events", first, raw_dir, replace=False)
    assert sorted(path.name for path in folder.iterdir()) == ["november.parquet", "october.parquet",
                                                              "october_2.parquet"]
    assert appended.warnings == []
    assert any("count twice" in warning for warning in again.warnings)


def test_appending_a_file_with_other_column_types_is_warned(tmp_path, raw_dir):
    text_import = write_text(tmp_path / "october.csv", events_csv([EVENT_ROW]))
    typed_export = tmp_path / "november.parquet"
    pq.write_table(pa.table({column: [1] for column in EVENTS.columns}), typed_export)
    import_file("events", text_import, raw_dir)

    result = import_file("events", typed_export, raw_dir, replace=False)

    assert any("column types differ from october.parquet" in warning for warning in result.warnings)


def test_a_failed_import_leaves_the_previous_one_in_place(tmp_path, raw_dir):
    good = write_text(tmp_path / "october.csv", events_csv([EVENT_ROW]))
    bad = write_text(tmp_path / "november.csv", "user_id\n1\n")
    previous = import_file("events", good, raw_dir).written

    with pytest.raises(RawFormatError):
        import_file("events", bad, raw_dir)

    assert sorted(raw_dir.joinpath("events").iterdir()) == [previous]
    assert [path.name for path in raw_dir.iterdir()] == ["events"]
