"""Downloading Online Retail II, against a local HTTP server only: never the internet."""

import contextlib
import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial
from pathlib import Path

import openpyxl
import pytest

from ml.data.download import DownloadError, download_online_retail_ii
from ml.data.formats import ONLINE_RETAIL_II

ZIP_NAME = "online+retail+ii.zip"
ROWS_PER_SHEET = {"Year 2009-2010": 2, "Year 2010-2011": 1}


def write_uci_like_workbook(path: Path) -> Path:
    """An xlsx laid out like UCI's online_retail_II.xlsx: one sheet per year, same header."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in ROWS_PER_SHEET.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(ONLINE_RETAIL_II.columns))
        for number in range(rows):
            sheet.append([f"{title[-4:]}{number}", "85048", "GLASS BALL", 12, "2010-12-01 08:26", 6.95,
                          13085, "United Kingdom"])
    workbook.save(path)
    return path


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files like http.server, honouring "Range: bytes=N-" so resumption can be tested."""

    ranges_asked: list[str] = []

    def send_head(self):
        asked = self.headers.get("Range")
        if not asked:
            return super().send_head()
        self.ranges_asked.append(asked)
        body = Path(self.translate_path(self.path)).read_bytes()
        start = int(asked.removeprefix("bytes=").removesuffix("-"))
        self.send_response(206)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        return io.BytesIO(body[start:])

    def log_message(self, format, *args):  # keep test output quiet
        pass


class CutConnectionHandler(RangeRequestHandler):
    """Announces the whole file but sends only its first half, like a connection that drops."""

    def send_head(self):
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        return io.BytesIO(body[: len(body) // 2])


@contextlib.contextmanager
def local_server(site: Path, handler: type[http.server.SimpleHTTPRequestHandler]):
    """Serve ``site`` on 127.0.0.1 on a free port; yields the base url."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=site))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A folder holding a small Online Retail II zip, to be served locally."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    site = tmp_path / "site"
    site.mkdir()
    workbook = write_uci_like_workbook(tmp_path / "online_retail_II.xlsx")
    with zipfile.ZipFile(site / ZIP_NAME, "w") as zipped:
        zipped.write(workbook, workbook.name)
    return site


@pytest.fixture
def served(site):
    """A local server of the small zip; yields (base url, zip bytes)."""
    RangeRequestHandler.ranges_asked = []
    with local_server(site, RangeRequestHandler) as base_url:
        yield base_url, (site / ZIP_NAME).read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_imports_both_sheets(served, tmp_path):
    base_url, zip_bytes = served
    downloads, raw_dir = tmp_path / "downloads", tmp_path / "raw"

    result = download_online_retail_ii(downloads, f"{base_url}/{ZIP_NAME}", sha256(zip_bytes),
                                       progress=False, raw_dir=raw_dir)

    assert result.source == downloads / ZIP_NAME
    assert result.source.read_bytes() == zip_bytes
    assert result.rows == sum(ROWS_PER_SHEET.values())
    assert result.written == raw_dir / "online_retail_ii" / "online_retail_II.parquet"
    assert result.warnings == []
    assert [path.name for path in downloads.iterdir()] == [ZIP_NAME]


def test_without_a_known_checksum_the_computed_one_is_printed_and_flagged(served, tmp_path, capsys):
    base_url, zip_bytes = served

    result = download_online_retail_ii(tmp_path / "downloads", f"{base_url}/{ZIP_NAME}", None,
                                       progress=False, raw_dir=tmp_path / "raw")

    assert sha256(zip_bytes) in capsys.readouterr().err
    assert any("not verified" in warning and sha256(zip_bytes) in warning for warning in result.warnings)


def test_a_checksum_mismatch_deletes_the_download_and_imports_nothing(served, tmp_path):
    base_url, _ = served
    downloads, raw_dir = tmp_path / "downloads", tmp_path / "raw"

    with pytest.raises(DownloadError, match="sha256 is .*, expected 0{64}.*deleted"):
        download_online_retail_ii(downloads, f"{base_url}/{ZIP_NAME}", "0" * 64, progress=False,
                                  raw_dir=raw_dir)

    assert list(downloads.iterdir()) == []
    assert not raw_dir.exists()


def test_a_server_error_is_reported_and_leaves_no_partial_file(served, tmp_path):
    base_url, _ = served
    downloads = tmp_path / "downloads"

    with pytest.raises(DownloadError, match="HTTP 404"):
        download_online_retail_ii(downloads, f"{base_url}/missing.zip", None, progress=False,
                                  raw_dir=tmp_path / "raw")

    assert list(downloads.iterdir()) == []


def test_an_interrupted_download_resumes_from_its_partial_file(served, tmp_path):
    base_url, zip_bytes = served
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / f"{ZIP_NAME}.part").write_bytes(zip_bytes[:1000])

    result = download_online_retail_ii(downloads, f"{base_url}/{ZIP_NAME}", sha256(zip_bytes),
                                       progress=False, raw_dir=tmp_path / "raw")

    assert RangeRequestHandler.ranges_asked == ["bytes=1000-"]
    assert result.source.read_bytes() == zip_bytes
    assert [path.name for path in downloads.iterdir()] == [ZIP_NAME]


def test_a_verified_earlier_download_is_reused_without_a_request(served, tmp_path):
    _, zip_bytes = served
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / ZIP_NAME).write_bytes(zip_bytes)
    nothing_listens = f"http://127.0.0.1:9/{ZIP_NAME}"  # a request would fail with "cannot connect"

    result = download_online_retail_ii(downloads, nothing_listens, sha256(zip_bytes), progress=False,
                                       raw_dir=tmp_path / "raw")

    assert result.rows == sum(ROWS_PER_SHEET.values())


def test_a_cut_connection_keeps_the_partial_file_for_resuming(site, tmp_path):
    downloads = tmp_path / "downloads"
    zip_size = (site / ZIP_NAME).stat().st_size

    with local_server(site, CutConnectionHandler) as base_url:
        with pytest.raises(DownloadError, match="run again to resume"):
            download_online_retail_ii(downloads, f"{base_url}/{ZIP_NAME}", None, progress=False,
                                      raw_dir=tmp_path / "raw")

    partial_file = downloads / f"{ZIP_NAME}.part"
    assert [path.name for path in downloads.iterdir()] == [partial_file.name]
    assert partial_file.stat().st_size == zip_size // 2


def test_an_unverified_download_that_is_not_the_data_is_deleted(site, tmp_path):
    (site / "error_page.zip").write_text("<html>Service unavailable</html>")
    downloads = tmp_path / "downloads"

    with local_server(site, RangeRequestHandler) as base_url:
        with pytest.raises(DownloadError, match="not the Online Retail II data(.|\n)*not a valid zip"):
            download_online_retail_ii(downloads, f"{base_url}/error_page.zip", None, progress=False,
                                      raw_dir=tmp_path / "raw")

    assert list(downloads.iterdir()) == []
