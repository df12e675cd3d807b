"""`globalshop build`: run dbt on a shop's data and print a short summary of what was built.

dbt's own output goes to a log file under the shop's home (logs/dbt_build.log); on failure the
failing lines are shown with the log's path.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ml import paths
from ml.warehouse import connect, table_exists


@dataclass
class BuildResult:
    succeeded: bool
    seconds: float
    log_path: Path
    summary: str


def dbt_environment() -> dict[str, str]:
    """Environment for a dbt run of this shop: the repo's profile, and target and log folders
    under the shop's home so several shops can be built side by side."""
    home = paths.home()
    environment = dict(os.environ)
    environment.update({
        "GLOBALSHOP_HOME": str(home),
        "GLOBALSHOP_WAREHOUSE": str(paths.warehouse_path()),
        "DBT_PROFILES_DIR": str(paths.PROJECT_DIR),
        "DBT_PROJECT_DIR": str(paths.PROJECT_DIR),
        "DBT_TARGET_PATH": str(home / "target"),
        "DBT_LOG_PATH": str(home / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    })
    return environment


def run_dbt(arguments: list[str], log_name: str) -> tuple[int, Path]:
    """Run a dbt command on this shop; its console output goes to logs/<log_name>."""
    home = paths.home()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    paths.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    log_path = home / "logs" / log_name
    with open(log_path, "w") as log:
        process = subprocess.run(
            [sys.executable, "-m", "dbt.cli.main", *arguments],
            cwd=paths.PROJECT_DIR, env=dbt_environment(), stdout=log, stderr=subprocess.STDOUT,
        )
    return process.returncode, log_path


def build(extra_arguments: list[str] | None = None) -> BuildResult:
    started = time.perf_counter()
    return_code, log_path = run_dbt(["build", *(extra_arguments or [])], "dbt_build.log")
    seconds = time.perf_counter() - started
    if return_code != 0:
        return BuildResult(False, seconds, log_path, failure_summary(log_path))
    return BuildResult(True, seconds, log_path, dbt_totals(log_path) + "\n" + warehouse_summary())


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
