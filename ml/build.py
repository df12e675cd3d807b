"""`globalshop build`: run dbt on a shop's data, publish the warehouse only when every model built
and every test passed, and print a short summary of what was built.

dbt writes to a private building file; see ml/publish.py for how the published warehouse is
swapped in atomically, so readers never see a failed or half-finished build. dbt's own output goes
to a log file under the shop's home (logs/dbt_build.log); on failure the failing lines are shown
with the log's path.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ml import paths
from ml.data.formats import RAW_FORMATS
from ml.publish import build_lock, building_path, discard_building_files, publish
from ml.warehouse import connect, table_exists


@dataclass
class BuildResult:
    succeeded: bool
    seconds: float
    log_path: Path
    summary: str


class RawFilesError(ValueError):
    """A file under data/raw cannot be read as its source; the message names it and the fix."""


def dbt_environment(warehouse: Path | None = None) -> dict[str, str]:
    """Environment for a dbt run of this shop: the repo's profile, and target and log folders
    under the shop's home so several shops can be built side by side. ``warehouse`` is the DuckDB
    file dbt writes (default: the published warehouse)."""
    home = paths.home()
    environment = dict(os.environ)
    environment.update({
        "GLOBALSHOP_HOME": str(home),
        "GLOBALSHOP_WAREHOUSE": str(warehouse or paths.warehouse_path()),
        "DBT_PROFILES_DIR": str(paths.PROJECT_DIR),
        "DBT_PROJECT_DIR": str(paths.PROJECT_DIR),
        "DBT_TARGET_PATH": str(home / "target"),
        "DBT_LOG_PATH": str(home / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    })
    return environment


def run_dbt(arguments: list[str], log_name: str, warehouse: Path | None = None,
            pass_fds: tuple[int, ...] = ()) -> tuple[int, Path]:
    """Run a dbt command on this shop; its console output goes to logs/<log_name>.

    ``warehouse`` is the DuckDB file dbt connects to (default: the published warehouse; a string
    such as ":memory:" for commands that only read raw files). ``pass_fds`` are kept open in dbt.
    """
    home = paths.home()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    paths.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    forget_parse_of_another_checkout(home / "target")
    log_path = home / "logs" / log_name
    with open(log_path, "w") as log:
        process = subprocess.run(
            [sys.executable, "-m", "dbt.cli.main", *arguments],
            cwd=paths.PROJECT_DIR, env=dbt_environment(warehouse), stdout=log,
            stderr=subprocess.STDOUT, pass_fds=pass_fds,
        )
    return process.returncode, log_path


def forget_parse_of_another_checkout(target: Path) -> None:
    """Drop dbt's partial-parse cache in ``target`` when another checkout of the project wrote
    it. The cache keeps the absolute paths of the checkout that parsed the project, and dbt does
    not notice a shop built from another one: its seeds were then loaded from the old checkout's
    files, or failed once those were gone."""
    marker = target / "parsed_project_dir"
    project = str(paths.PROJECT_DIR)
    if not marker.exists() or marker.read_text() != project:
        (target / "partial_parse.msgpack").unlink(missing_ok=True)
        target.mkdir(parents=True, exist_ok=True)
        marker.write_text(project)


def build(extra_arguments: list[str] | None = None) -> BuildResult:
    """Run `dbt build` into the building file and publish it when dbt succeeded.

    Raises RawFilesError before running dbt when a raw file cannot be read, and
    BuildInProgressError when another build of this warehouse is running.
    """
    started = time.perf_counter()
    check_raw_files(paths.raw_dir())
    if target_type() != "duckdb":
        return _build_elsewhere(extra_arguments, started)
    published = paths.warehouse_path()
    arguments = list(extra_arguments or [])
    with build_lock(published) as lock:
        mode = build_mode(published, arguments)
        if mode.startswith("full rebuild") and FULL_REFRESH not in arguments:
            arguments.append(FULL_REFRESH)
        copying = building_path(published).with_name(published.name + ".copying")
        copying.unlink(missing_ok=True)
        start_from_copy = published.exists() and (mode.startswith("incremental") or is_partial(arguments))
        if start_from_copy:
            # an incremental build adds the new raw rows to the tables already built, and a partial
            # build (--select ...) leaves what it does not rebuild as it was: both update a copy of
            # the published warehouse (made beside the earlier build's file, so it is a new file)
            shutil.copyfile(published, copying)
        discard_building_files(published)
        if start_from_copy:
            os.replace(copying, building_path(published))
        return_code, log_path = run_dbt(["build", *arguments], "dbt_build.log",
                                        warehouse=building_path(published), pass_fds=(lock,))
        if return_code != 0:
            summary = (failure_summary(log_path) + "\n" + unpublished_note(published))
            return BuildResult(False, time.perf_counter() - started, log_path, summary)
        publish(published)
    seconds = time.perf_counter() - started
    return BuildResult(True, seconds, log_path,
                       f"Build: {mode}\n" + dbt_totals(log_path) + "\n" + warehouse_summary())


FULL_REFRESH = "--full-refresh"
# dbt arguments that choose what to build; without them `dbt build` builds everything
SELECTION_ARGUMENTS = {"--select", "-s", "--models", "-m", "--exclude", "--selector", "--resource-type",
                       "--resource-types", "--exclude-resource-type", "--exclude-resource-types"}


def is_partial(arguments: list[str]) -> bool:
    return any(argument.split("=", 1)[0] in SELECTION_ARGUMENTS for argument in arguments)


def build_mode(published: Path, arguments: list[str]) -> str:
    """How this build runs: "incremental (...)" when the published warehouse holds the incremental
    chains built from raw files that are still as they were, else "full rebuild (why)".

    The event chain (models/intermediate/int_events_*, fct_events, fct_sessions and the two
    activity tables) and the invoice-line validation (int_invoice_lines_*) add only the raw files
    they have not loaded yet. A file loaded before must not change: if one was removed or its row
    count changed, this build rebuilds in full rather than keep rows that are no longer in the raw
    files.
    """
    if FULL_REFRESH in arguments:
        return "full rebuild (--full-refresh)"
    if not published.exists():
        return "full rebuild (no published warehouse yet)"
    problem = incremental_state_problem(published, paths.raw_dir())
    if problem:
        return f"full rebuild ({problem})"
    return "incremental (new raw event and invoice files added to the published warehouse's tables)"


# The incremental validated tables; each row's source_system is the raw folder its file is in.
INCREMENTAL_TABLES = ("int_events_validated", "int_invoice_lines_validated")


def incremental_state_problem(published: Path, raw_dir: Path) -> str | None:
    """Why the published warehouse cannot take an increment, or None when it can."""
    try:
        connection = duckdb.connect(str(published), read_only=True)
    except duckdb.Error as error:  # a plain `dbt build` writing to it, say
        return f"the published warehouse cannot be read ({error})"
    loaded = {}
    try:
        for table in INCREMENTAL_TABLES:
            columns = {name for (name,) in connection.execute(
                "select column_name from information_schema.columns c join information_schema.tables t "
                "using (table_catalog, table_schema, table_name) where t.table_schema = 'intermediate' "
                "and t.table_name = ? and t.table_type = 'BASE TABLE'", [table]).fetchall()}
            if "raw_file_name" not in columns:
                return "the published warehouse predates incremental builds"
            loaded.update({(folder, file_name): rows for folder, file_name, rows in connection.execute(
                f"select source_system, raw_file_name, count(*) from intermediate.{table} "
                "where raw_file_name is not null group by all").fetchall()})
    finally:
        connection.close()
    for (folder, file_name), rows in sorted(loaded.items()):
        raw_file = raw_dir / folder / file_name
        if not raw_file.exists():
            return f"raw file {raw_file} was loaded before and is gone"
        if pq.ParquetFile(raw_file).metadata.num_rows != rows:
            return f"raw file {raw_file} changed since it was loaded"
    return None


def target_type() -> str:
    """The dbt target this shop builds on (profiles.yml: GLOBALSHOP_TARGET, duckdb by default)."""
    return os.environ.get("GLOBALSHOP_TARGET", "duckdb")


def _build_elsewhere(extra_arguments: list[str] | None, started: float) -> BuildResult:
    """`dbt build` on an engine that keeps its own tables (Spark): nothing to publish, and the
    score tables come from `globalshop score`, since dbt runs Python models there only on
    Databricks."""
    return_code, log_path = run_dbt(["build", *(extra_arguments or [])], "dbt_build.log")
    seconds = time.perf_counter() - started
    if return_code != 0:
        return BuildResult(False, seconds, log_path, failure_summary(log_path))
    return BuildResult(True, seconds, log_path, dbt_totals(log_path) + f"\nBuilt on the "
                       f"{target_type()} target; run `globalshop score` for the score tables.")


def unpublished_note(published: Path) -> str:
    kept = building_path(published)
    state = (f"the published warehouse {published} is unchanged"
             if published.exists() else f"nothing was published at {published}")
    return (f"The build failed, so {state}. The failed build is kept at {kept} for inspection "
            "(failing rows are in its test_failures schema); the next build replaces it.")


def check_raw_files(raw_dir: Path) -> None:
    """Refuse, before dbt runs, raw files that dbt would fail on: not Parquet, or missing columns.

    Files under data/raw are normally written by `globalshop data import`, which checks them; this
    catches files copied there by hand.
    """
    problems = []
    for raw_format in RAW_FORMATS.values():
        for raw_file in sorted((raw_dir / raw_format.folder).glob("*.parquet")):
            try:
                columns = pq.read_schema(raw_file).names
            except (pa.ArrowException, OSError) as error:
                problems.append(f"{raw_file}: not a readable Parquet file ({error}).")
                continue
            missing = [column for column in raw_format.columns if column not in columns]
            if missing:
                problems.append(f"{raw_file}: missing column(s) {', '.join(map(repr, missing))} "
                                f"of kind {raw_format.kind!r}.")
    if problems:
        raise RawFilesError(
            "raw files that dbt cannot read; nothing was built and the published warehouse is "
            "unchanged:\n  " + "\n  ".join(problems) + "\nRemove them, or bring the original "
            "files in with `globalshop data import KIND PATH`, which checks and converts them.")


def source_freshness() -> dict[str, str]:
    """Run `dbt source freshness` on this shop's raw files: each source's status (pass, warn,
    error, or runtime error), as dbt reports it in target/sources.json.

    Freshness is the age of the newest raw file of a source (its modification time), against the
    thresholds in models/staging/_raw__sources.yml (dbt vars raw_files_warn_after_days and
    raw_files_error_after_days). It reads only files, so it runs on an in-memory database and
    never touches the warehouse. Sources without files are left out (they have no age).
    """
    with_files = [raw_format.folder for raw_format in RAW_FORMATS.values()
                  if any((paths.raw_dir() / raw_format.folder).glob("*.parquet"))]
    if not with_files:
        return {}
    selection = [f"source:{folder}" for folder in with_files]
    run_dbt(["source", "freshness", "--select", *selection], "dbt_source_freshness.log",
            warehouse=Path(":memory:"))
    report = json.loads((paths.home() / "target" / "sources.json").read_text())
    return {result["unique_id"].removeprefix("source.globalshop."): result["status"]
            for result in report["results"]}


def dbt_totals(log_path: Path) -> str:
    """dbt's closing line (PASS=.. WARN=.. ERROR=..), for the summary."""
    totals = [line for line in log_path.read_text(errors="replace").splitlines() if "Done. PASS=" in line]
    return "dbt: " + totals[-1].split("Done. ", 1)[1] if totals else "dbt: no totals in the log"


def failure_summary(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    interesting = [line for line in lines if any(
        word in line for word in ("ERROR", "Error", "FAIL", "Failure", "Done."))]
    return "\n".join(interesting[-25:])


SUMMARY_TABLES = [
    ("main", "fct_order_lines", "order lines"),
    ("main", "fct_orders", "orders"),
    ("main", "dim_customers", "customers"),
    ("main", "dim_products", "products"),
    ("main", "fct_events", "events"),
    ("main", "fct_sessions", "sessions"),
    ("main", "dim_customer_profiles", "customer profiles"),
    ("main", "customer_rfm", "customers with RFM scores"),
    ("main", "customer_segments", "customers segmented (RFM segment and cluster)"),
    ("main", "customer_churn_scores", "customers with a churn score"),
    ("main", "customer_clv", "customers with a lifetime value"),
    ("main", "customer_campaign_response", "profiled customers with a campaign response score"),
    ("main", "customer_recommendations", "customer recommendations"),
    ("main", "product_similar_items", "similar-product rows"),
    ("main", "product_cross_sell", "cross-sell pairs"),
    ("main", "model_metrics", "model metric rows"),
    ("data_quality", "quarantined_rows", "quarantined raw rows"),
]


def warehouse_summary() -> str:
    lines = [f"Warehouse: {paths.warehouse_path()}"]
    with connect() as connection:
        for schema, table, label in SUMMARY_TABLES:
            if table_exists(connection, schema, table):
                count = connection.sql(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
                lines.append(f"  {count:>12,}  {label} ({schema}.{table})")
        reconciliation = connection.sql(
            "select source_system, raw_rows, clean_rows, quarantined_rows, unaccounted_rows "
            "from data_quality.source_reconciliation order by source_system").fetchall()
        if reconciliation:
            lines.append("Raw rows by source (clean + quarantined = raw):")
            for source, raw, clean, quarantined, unaccounted in reconciliation:
                status = "ok" if unaccounted == 0 else f"{unaccounted:,} UNACCOUNTED"
                lines.append(f"  {source:<18} {raw:>12,} = {clean:>12,} + {quarantined:>10,}  {status}")
        reasons = connection.sql(
            "select source_system, rejection_reason, count(*) from data_quality.quarantined_rows "
            "group by all order by 1, 3 desc").fetchall()
        if reasons:
            lines.append("Quarantine reasons:")
            lines.extend(f"  {source:<18} {reason:<40} {count:>10,}" for source, reason, count in reasons)
    return "\n".join(lines)
