"""Safe publishing: dbt builds into a private file, and only a build whose tests passed replaces the
warehouse that readers use, by an atomic rename.

DuckDB lets one process write a database file while no other process holds it, so a BI tool holding
the warehouse open would block a build that wrote to it in place, and a build that failed or was
killed halfway would leave readers a broken warehouse. Instead:

- ``globalshop build`` runs dbt on ``warehouse/.building/globalshop.duckdb`` (same file name, so
  DuckDB's catalogue name and the views' qualified names are the same as in the published file);
- when dbt succeeded (every model built, every test passed), the building file is checkpointed (its
  write-ahead log merged, so the file is complete on its own), flushed to disk and renamed over
  ``warehouse/globalshop.duckdb`` with ``os.replace``, atomic on one filesystem;
- readers open the published file read-only. One that opened it before the rename keeps reading
  the old build through its open file; a new connection reads the new build. No reader ever sees
  a mix of the two, and no reader blocks a build;
- a failed build leaves the published file untouched and its own file in ``.building/`` for
  inspection (failing rows are in its ``test_failures`` schema); the next build discards it. A build
  killed at any point leaves the published file untouched too: the rename is its last step.

A plain ``dbt build`` (without ``globalshop``) writes straight to the file the profile names, as
dbt always does: fine for development, but it does not have these guarantees.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

BUILDING_FOLDER = ".building"
LOCK_FILE_NAME = "build.lock"


class BuildInProgressError(RuntimeError):
    """Another build of the same warehouse is running."""


class PublishError(RuntimeError):
    """The finished build could not be published; the published warehouse is unchanged."""


def building_path(published: Path) -> Path:
    """Where dbt writes the warehouse that ``published`` will become."""
    return published.parent / BUILDING_FOLDER / published.name


def wal_path(database: Path) -> Path:
    """DuckDB's write-ahead log beside a database file."""
    return database.with_name(database.name + ".wal")


@contextmanager
def build_lock(published: Path) -> Iterator[int]:
    """Hold the warehouse's build lock for the block; yields the lock file's descriptor.

    The lock is an flock on ``.building/build.lock``: the kernel releases it when its holders die,
    even by SIGKILL, so a killed build never leaves a stale lock. Pass the descriptor to the dbt
    subprocess (``pass_fds``) so that the lock lasts as long as dbt does, even when the parent
    process is killed first.
    """
    lock_path = published.parent / BUILDING_FOLDER / LOCK_FILE_NAME
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            raise BuildInProgressError(
                f"another build of {published} is running (process {holder}, lock {lock_path}); "
                "wait for it to finish, or stop that process, then build again.") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield descriptor
    finally:
        os.close(descriptor)


def discard_building_files(published: Path) -> list[Path]:
    """Remove what a failed or killed earlier build left in ``.building/``; return what was removed.

    Call only while holding the build lock.
    """
    building = building_path(published)
    removed = []
    for leftover in (building, wal_path(building)):
        if leftover.exists():
            leftover.unlink()
            removed.append(leftover)
    return removed


def publish(published: Path) -> None:
    """Make the finished building file the published warehouse, atomically.

    Call only after dbt succeeded, while holding the build lock. Raises PublishError, leaving the
    published file as it was, when the building file is incomplete or another process is writing
    to the published file.
    """
    building = building_path(published)
    if not building.exists():
        raise PublishError(f"the build wrote no warehouse at {building}; nothing was published.")
    _checkpoint(building)
    _fsync(building)
    _remove_stale_wal(published)
    os.replace(building, published)
    _fsync(published.parent)


def _checkpoint(database: Path) -> None:
    # A clean close normally merges the write-ahead log; a checkpoint makes sure, so the file that
    # is renamed holds every committed table on its own.
    connection = duckdb.connect(str(database))
    try:
        connection.execute("checkpoint")
    finally:
        connection.close()
    if wal_path(database).exists():
        raise PublishError(f"{wal_path(database)} is still there after a checkpoint, so "
                           f"{database} is not complete on its own; nothing was published.")


def _remove_stale_wal(published: Path) -> None:
    """Remove a write-ahead log left beside the published file by a writer that crashed.

    DuckDB replays a database's .wal when it opens it, even read-only: left there, an old log would
    be replayed onto the new file. A live writer (a plain ``dbt build`` running on the published
    file) is refused instead, since removing its log would lose its work.
    """
    stale = wal_path(published)
    if not stale.exists():
        return
    try:
        duckdb.connect(str(published), read_only=True).close()
    except duckdb.IOException as error:
        raise PublishError(
            f"another process is writing to {published} (a plain `dbt build`?): {error}. "
            "Nothing was published; build again when it has finished.") from error
    stale.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
