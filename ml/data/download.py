"""Download the UCI Online Retail II data set and import it as the ``online-retail-ii`` kind.

The file is written to ``<name>.part`` and renamed only once complete and verified, so a finished
name always means a whole file. An interrupted download keeps its ``.part`` file and the next run
resumes it when the server accepts byte ranges.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ml.data.formats import ONLINE_RETAIL_II
from ml.data.importer import ImportResult, RawFormatError, import_file
from ml.paths import raw_dir as default_raw_dir

ONLINE_RETAIL_II_URL = "https://archive.ics.uci.edu/static/public/502/online+retail+ii.zip"
# Unknown: this module was written offline. Fill it in from the sha256 the first download prints.
ONLINE_RETAIL_II_SHA256: str | None = None
CHUNK_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 60
USER_AGENT = "globalshop-analytics/0.1 (python urllib)"


class DownloadError(RuntimeError):
    """A download failed or its content is not the expected file; the message says what to do."""


def download_online_retail_ii(dest_dir: Path, url: str = ONLINE_RETAIL_II_URL,
                              sha256: str | None = ONLINE_RETAIL_II_SHA256, progress: bool = True,
                              *, raw_dir: Path | None = None) -> ImportResult:
    """Download Online Retail II into ``dest_dir``, verify it, and import it into ``raw_dir``.

    ``sha256`` is the expected checksum of the downloaded zip; when it is None the computed one is
    printed and the result carries a warning that the file was not verified. A file already in
    ``dest_dir`` with the right checksum is reused rather than downloaded again. ``raw_dir``
    defaults to ``ml.paths.raw_dir()``. Returns the import's result, whose ``source`` is the
    downloaded file. Raises DownloadError when the download fails or the checksum differs.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / _file_name(url)
    warnings: list[str] = []
    if target.exists() and (sha256 is None or _sha256_of(target) == sha256.lower()):
        _say(f"Using {target}, downloaded before.")
    else:
        download_file(url, target, sha256=sha256, progress=progress)
    if sha256 is None:
        digest = _sha256_of(target)
        _say(f"sha256 of {target.name}: {digest}")
        warnings.append(f"{target} was not verified: no expected sha256 is known. Its sha256 is "
                        f"{digest}; pass it as sha256 next time, or set ONLINE_RETAIL_II_SHA256 in "
                        "ml/data/download.py.")
    try:
        result = import_file(ONLINE_RETAIL_II.kind, target, raw_dir or default_raw_dir())
    except RawFormatError as error:
        if sha256 is not None:
            raise
        # Unverified and unreadable (an error page served as the file, say): not worth keeping.
        target.unlink()
        raise DownloadError(f"{url}: the downloaded file is not the Online Retail II data, so it was "
                            f"deleted.\n{error}") from error
    result.warnings[:0] = warnings
    return result


def download_file(url: str, target: Path, *, sha256: str | None = None,
                  progress: bool = True) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming a previous partial download.

    When ``sha256`` is given, a file with another checksum is deleted and DownloadError raised.
    """
    part = target.with_name(target.name + ".part")
    already = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if already:
        request.add_header("Range", f"bytes={already}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 416 and already:
            # The partial file is already whole (or longer than the file): start again cleanly.
            part.unlink()
            return download_file(url, target, sha256=sha256, progress=progress)
        raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}; check the "
                            "address, or download the file in a browser and import it.") from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: cannot connect ({getattr(error, 'reason', error)}); check the "
                            "network, or download the file in a browser and import it.") from error
    with response:
        resuming = already and response.status == 206
        start = already if resuming else 0
        remaining = response.headers.get("Content-Length")
        total = start + int(remaining) if remaining is not None else None
        _copy_body(response, part, start, total, progress, url)
    received = part.stat().st_size
    if total is not None and received != total:
        raise DownloadError(f"{url}: the download stopped at {received:,} of {total:,} bytes; "
                            f"run again to resume from {part}.")
    _verify(part, sha256, url)
    os.replace(part, target)
    return target


def _verify(part: Path, sha256: str | None, url: str) -> None:
    if sha256 is None:
        return
    digest = _sha256_of(part)
    if digest != sha256.lower():
        part.unlink()
        raise DownloadError(f"{url}: the downloaded file's sha256 is {digest}, expected "
                            f"{sha256.lower()}. The file was deleted. It may have changed at the source "
                            "or been corrupted on the way: try again, and check the expected checksum.")


def _copy_body(response: http.client.HTTPResponse, part: Path, start: int, total: int | None,
               progress: bool, url: str) -> None:
    mode = "ab" if start else "wb"
    with part.open(mode) as output, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                          disable=not progress, file=sys.stderr) as bar:
        try:
            while chunk := response.read(CHUNK_BYTES):
                output.write(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(f"{url}: the download was interrupted ({error}); "
                                f"run again to resume from {part}.") from error


def _file_name(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    return name or "online_retail_ii.zip"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _say(message: str) -> None:
    print(message, file=sys.stderr)
