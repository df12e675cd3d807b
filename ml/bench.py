"""`globalshop bench`: how time and memory grow with the shop, measured end to end.

For each size (events in millions), the benchmark generates a shop (proportional orders and
customers), builds the warehouse from nothing, writes the report, then processes a daily load as
an increment, and prints and records:

- wall time of each stage: generate, the SQL layer (staging to marts, sessions included), each ML
  job (a dbt Python model), the whole `dbt build`, the report, and the daily load's increment;
- peak memory (resident set) of each stage's process;
- rows per second of the SQL layer and of the whole build;
- the floor: one plain DuckDB query that reads the same raw events and aggregates them per user,
  run in this process on the same files, and the SQL layer's time as a multiple of it;
- the least SQL work: the bare queries any layer must run (the events typed and sessionized, the
  invoice lines copied, the events' duplicates found), timed as the floor is, as a multiple of
  it: what the SQL layer's multiple cannot go below.

Every figure is the median of ``repeats`` runs; a second table lists every run's seconds, and
a size of 42M events or more is checked against the issue's targets (4x the floor, 900 s,
12 GB, a tenth of the whole build for the daily load). Each stage runs in a process of its own
(the CLI a user would run), so its peak memory is that process tree's. The SQL layer is timed
alone, as `globalshop build --selector sql_layer --full-refresh` (every model and test but the
Python models and what reads them), just before the whole build: inside one `dbt build` its last
tests can wait behind the Python models for dbt's two threads, so no span of that build is its
time. An ML job's time is its node's execution time in the whole build's run_results.json (jobs
run two at a time, as dbt's default threads say).

With ``--sql-only`` the whole build and the report are left out: generate, floor, SQL layer and
increment only, for a size whose whole build would take too long to run here (at 42M events,
over an hour at the 10M rate).

Results go to ``<home>/bench-results.json`` and, as a table, into BENCHMARKS.md between the
``bench`` markers (``bench-sql`` markers for a ``--sql-only`` run).
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import yaml

from ml import paths

EVENTS_AT_SCALE_ONE = 1_000_000  # the generator's scale 1 writes about a million events
DAYS_IN_THE_REAL_LOG = 30  # a daily load is a thirtieth of the events (hold_back_daily_load)
INVOICE_FOLDERS = ("online_retail", "online_retail_ii")
INCREMENT_STAGE = "increment: SQL layer (daily load)"
DEFAULT_SIZES = (1, 10, 42)  # millions of events
MARKER_START = "<!-- bench:start -->"
MARKER_END = "<!-- bench:end -->"
MARKERS = (MARKER_START, MARKER_END)
SQL_ONLY_MARKERS = ("<!-- bench-sql:start -->", "<!-- bench-sql:end -->")
WHOLE_BUILD_STAGE = "dbt build (whole)"
LEAST_WORK_STAGE = "least SQL work (bare queries)"
# What run_stage runs in a new interpreter: the stage, then its Run as JSON
STAGE_HELPER = ("import dataclasses, json, sys; from pathlib import Path; "
                "from ml.bench import run_stage_here; "
                "run = run_stage_here(json.loads(sys.argv[1]), *map(Path, sys.argv[2:])); "
                "print(json.dumps(dataclasses.asdict(run)))")
# The targets (issue 6), checked on every size of at least TARGET_EVENTS_MILLIONS
TARGET_EVENTS_MILLIONS = 42
TARGET_FLOOR_MULTIPLE = 4.0
TARGET_WHOLE_BUILD_SECONDS = 900.0
TARGET_PEAK_MB = 12 * 1024
TARGET_INCREMENT_SHARE = 0.10
FLOOR_QUERY = """
    select user_id, count(*) as events, count(distinct product_id) as products,
           min(event_time) as first_event, max(event_time) as last_event,
           sum(case when event_type = 'purchase' then price else 0 end) as revenue
    from read_parquet('{files}')
    group by user_id
"""

LEAST_SQL_WRITES = [
    # each event typed, with its session: a gap over the timeout starts one, as in fct_events
    """create table events as
    with typed as (
        select user_id, product_id, event_type, category_code, brand, price, user_session,
               strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as event_at
        from read_parquet('{events}')
    ),
    gaps as (
        select *, date_diff('second', lag(event_at) over by_user, event_at) as gap_seconds
        from typed
        window by_user as (partition by user_id order by event_at)
    )
    select * exclude (gap_seconds),
           max(case when gap_seconds is null or gap_seconds > {timeout_seconds}
                    then event_at end) over (
               partition by user_id order by event_at
               rows between unbounded preceding and current row) as session_started_at
    from gaps""",
    "create table invoice_lines as select * from read_parquet('{lines}')",
]
EVENT_DUPLICATE_SEARCH = """
    select hash(event_time, event_type, product_id, category_id, category_code, brand, price,
                user_id, user_session) as key_hash
    from read_parquet('{events}')
    group by key_hash
    having count(*) > 1
"""


@dataclass
class Run:
    """One stage's wall time in seconds and its process tree's peak resident memory in MB."""
    seconds: float
    peak_mb: float


@dataclass
class SizeResult:
    events_millions: float
    scale: float
    raw_events: int = 0
    raw_order_lines: int = 0
    increment_events: int = 0
    increment_days: int = 0
    increment_order_lines: int = 0
    stages: dict[str, list[float]] = field(default_factory=dict)  # seconds per run
    peaks: dict[str, list[float]] = field(default_factory=dict)  # MB per run

    def add(self, stage: str, seconds: float, peak_mb: float | None = None) -> None:
        self.stages.setdefault(stage, []).append(round(seconds, 2))
        if peak_mb is not None:
            self.peaks.setdefault(stage, []).append(round(peak_mb, 1))

    @property
    def whole_rows(self) -> int:
        """The raw rows the whole build reads: the shop and its daily load."""
        return (self.raw_events + self.raw_order_lines + self.increment_events
                + self.increment_order_lines)

    def median(self, stage: str) -> float:
        return statistics.median(self.stages[stage])

    def peak(self, stage: str) -> float | None:
        return statistics.median(self.peaks[stage]) if stage in self.peaks else None


def run_stage(arguments: list[str], home: Path, log: Path) -> Run:
    """Run a `globalshop` command for the shop at ``home``; its wall time and peak memory.

    The peak is the largest resident set of the process and the children it waited for (dbt, and
    its Python models, which run inside dbt's process). The command is started by a new
    interpreter (``STAGE_HELPER``): Linux gives a process started by ``vfork``, as ``subprocess``
    starts one, the peak of the process that started it, and this one holds gigabytes once it
    has run the floor query over a large shop (the 42M shop's report and generation were given
    its 4.0-4.4 GB)."""
    helper = subprocess.run([sys.executable, "-c", STAGE_HELPER, json.dumps(arguments), str(home),
                             str(log)], capture_output=True, text=True, cwd=paths.PROJECT_DIR)
    if helper.returncode != 0:  # the stage failed (run_stage_here's error), or its helper did
        errors = helper.stderr.strip().splitlines() or [
            f"the helper of `globalshop {' '.join(arguments)}` ended by exit {helper.returncode}"]
        raise RuntimeError(errors[-1].removeprefix("RuntimeError: "))
    return Run(**json.loads(helper.stdout))


def run_stage_here(arguments: list[str], home: Path, log: Path) -> Run:
    """:func:`run_stage`, the command started by this process."""
    environment = dict(os.environ, GLOBALSHOP_HOME=str(home))
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "ml.cli", *arguments], env=environment,
                                   stdout=output, stderr=subprocess.STDOUT, cwd=paths.PROJECT_DIR)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"`globalshop {' '.join(arguments)}` failed "
                           f"(exit {process.returncode}); see {log}")
    return Run(seconds, usage.ru_maxrss / 1024)


def ml_job_times(run_results: Path, python_models: set[str]) -> dict[str, float]:
    """Each Python model's execution seconds in one `dbt build`, as ``ML: <name>``."""
    results = json.loads(run_results.read_text())["results"]
    return {f"ML: {name}": result["execution_time"] for result in results
            if result["unique_id"].startswith("model.")
            and (name := result["unique_id"].split(".")[-1]) in python_models}


def python_model_names() -> set[str]:
    return {path.stem for path in (paths.PROJECT_DIR / "python_models").rglob("*.py")}


def floor_seconds(raw_dir: Path) -> float:
    """One plain DuckDB query over the raw event files, aggregated per user, in this process."""
    files = str(raw_dir / "events" / "*.parquet")
    with duckdb.connect() as connection:
        started = time.perf_counter()
        connection.sql(FLOOR_QUERY.format(files=files)).fetchall()
        return time.perf_counter() - started


def least_sql_work_seconds(raw_dir: Path, scratch: Path) -> float:
    """The bare queries any SQL layer that meets the design must run, timed as the floor is (in
    this process, DuckDB's defaults), into a DuckDB file under ``scratch`` (removed after).
    Nothing here is checked, quarantined or modelled: the SQL layer does this work and more, so
    this bounds its multiple of the floor from below."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        with duckdb.connect(str(scratch / "least-work.duckdb")) as connection:
            started = time.perf_counter()
            run_least_sql_work(connection, raw_dir)
            connection.execute("checkpoint")
            return time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_least_sql_work(connection: duckdb.DuckDBPyConnection, raw_dir: Path) -> int:
    """Write the tables ``events`` (typed, with each event's session start) and
    ``invoice_lines``; return how many distinct raw event rows occur more than once."""
    timeout_seconds = 60 * yaml.safe_load((paths.PROJECT_DIR / "dbt_project.yml").read_text())[
        "vars"]["session_timeout_minutes"]
    events = raw_dir / "events" / "*.parquet"
    for query in LEAST_SQL_WRITES:
        connection.execute(query.format(events=events,
                                        lines=raw_dir / "online_retail_ii" / "*.parquet",
                                        timeout_seconds=timeout_seconds))
    return len(connection.execute(EVENT_DUPLICATE_SEARCH.format(events=events)).fetchall())


def count_rows(raw_dir: Path, folder: str) -> int:
    return parquet_rows(raw_dir / folder / "*.parquet")


def parquet_rows(files: Path) -> int:
    """Rows in a Parquet file, or in the files a glob names."""
    with duckdb.connect() as connection:
        return connection.sql(f"select count(*) from read_parquet('{files}')").fetchall()[0][0]


def hold_back_daily_load(raw_dir: Path, raw_events: int) -> list[tuple[str, Path]]:
    """Take a daily load out of the generated shop: the last days of events holding a thirtieth
    of them, as a day of the real October 2019 log holds (1.4M of 42.4M events; the generator
    spreads its events over three months), and the last day of each invoice export. Returns the
    held-back files as (raw folder, file), each folder's oldest day first."""
    from ml.data.increment import split_last_day, split_last_days
    held_back = [("events", part) for part in
                 split_last_days(raw_dir, "events", math.ceil(raw_events / DAYS_IN_THE_REAL_LOG))]
    for folder in INVOICE_FOLDERS:
        if any((raw_dir / folder).glob("*.parquet")):
            held_back.append((folder, split_last_day(raw_dir, folder)))
    return held_back


def bench_size(events_millions: float, repeats: int, root: Path,
               sql_only: bool = False) -> SizeResult:
    """Every stage at one size, ``repeats`` times (``sql_only``: all but the whole build and the
    report).

    The SQL layer is built without the shop's daily load, which then arrives as new raw files and
    is processed as an increment. The whole build then rebuilds everything from the raw files,
    daily load included: without its last days the generated shop's event log holds less history
    than the recommenders need (RECOMMENDER_HISTORY_DAYS), and its source would not be served.
    The models are refitted in full on every build, so a whole incremental build costs the
    increment plus the ML stages measured here."""
    from ml.data.increment import add_increment
    scale = events_millions * 1_000_000 / EVENTS_AT_SCALE_ONE
    home = root / f"events-{events_millions:g}M"
    logs = home / "bench-logs"
    result = SizeResult(events_millions, scale)
    for repeat in range(repeats):
        shutil.rmtree(home, ignore_errors=True)
        logs.mkdir(parents=True)
        run = run_stage(["data", "generate", "--scale", f"{scale:g}"], home, logs / "generate.log")
        result.add("generate", run.seconds, run.peak_mb)
        raw_dir = home / "data" / "raw"
        daily_load = hold_back_daily_load(raw_dir, count_rows(raw_dir, "events"))
        # what the SQL layer loads: the shop without its daily load
        result.raw_events = count_rows(raw_dir, "events")
        result.raw_order_lines = count_rows(raw_dir, "online_retail_ii")
        result.increment_events = sum(parquet_rows(part) for folder, part in daily_load
                                      if folder == "events")
        result.increment_order_lines = sum(parquet_rows(part) for folder, part in daily_load
                                           if folder != "events")
        result.increment_days = sum(folder == "events" for folder, _ in daily_load)
        result.add("floor query", floor_seconds(raw_dir))
        result.add(LEAST_WORK_STAGE, least_sql_work_seconds(raw_dir, home / "least-sql-work"))

        run = run_stage(["build", "--selector", "sql_layer", "--full-refresh"], home,
                        logs / "sql-layer.log")
        result.add("SQL layer", run.seconds, run.peak_mb)
        for folder, part in daily_load:
            add_increment(raw_dir, part, folder)
        run = run_stage(["build", "--selector", "sql_layer"], home, logs / "increment-sql.log")
        result.add(INCREMENT_STAGE, run.seconds, run.peak_mb)

        if not sql_only:
            run = run_stage(["build", "--full-refresh"], home, logs / "build.log")
            result.add(WHOLE_BUILD_STAGE, run.seconds, run.peak_mb)
            for stage, seconds in ml_job_times(home / "target" / "run_results.json",
                                               python_model_names()).items():
                result.add(stage, seconds)
            run = run_stage(["report"], home, logs / "report.log")
            result.add("report", run.seconds, run.peak_mb)
        last = "SQL layer" if sql_only else WHOLE_BUILD_STAGE
        print(f"  {events_millions:g}M events, run {repeat + 1}/{repeats}: {last} "
              f"{result.stages[last][-1]:.0f} s", flush=True)
    return result


def machine() -> str:
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    import dbt.version
    return (f"{os.cpu_count()} cores, {memory_kb / 1024 ** 2:.0f} GB RAM, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, DuckDB "
            f"{duckdb.__version__}, dbt-core {dbt.version.__version__}")


def markdown(results: list[SizeResult], repeats: int, command: str) -> str:
    """The results as a table: one column per size, one row per stage (median of the runs)."""
    stages = []
    for result in results:
        stages += [stage for stage in result.stages if stage not in stages]
    header = "| stage | " + " | ".join(f"{r.events_millions:g}M events" for r in results) + " |"
    lines = [f"Command: `{command}` ({datetime.now():%Y-%m-%d}; median of {repeats} "
             f"run{'s' if repeats > 1 else ''}).", "", f"Machine: {machine()}.", "",
             "Seconds (peak memory of the stage's process in MB):", "", header,
             "| --- |" + " ---: |" * len(results)]
    for stage in stages:
        cells = []
        for result in results:
            if stage not in result.stages:
                cells.append("-")
                continue
            peak = result.peak(stage)
            cells.append(f"{result.median(stage):,.1f}" + (f" ({peak:,.0f} MB)" if peak else ""))
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    derived = {
        "raw events / invoice lines (SQL layer, without the daily load)": lambda r: f"{r.raw_events:,} / {r.raw_order_lines:,}",
        "daily load: events (days) / invoice lines": lambda r: f"{r.increment_events:,} ({r.increment_days}) / {r.increment_order_lines:,}",
        "SQL layer / floor query": lambda r: f"{r.median('SQL layer') / r.median('floor query'):.1f}x",
        "least SQL work / floor query": lambda r: f"{r.median(LEAST_WORK_STAGE) / r.median('floor query'):.1f}x",
        "SQL layer, raw rows per second": lambda r: f"{(r.raw_events + r.raw_order_lines) / r.median('SQL layer'):,.0f}",
        "whole build, raw rows per second": lambda r: f"{r.whole_rows / r.median(WHOLE_BUILD_STAGE):,.0f}",
        # flat across sizes when time grows linearly with rows
        "whole build, seconds per million raw rows": lambda r: f"{r.median(WHOLE_BUILD_STAGE) / (r.whole_rows / 1e6):.1f}",
        "increment (SQL layer) / whole build": lambda r: f"{r.median(INCREMENT_STAGE) / r.median(WHOLE_BUILD_STAGE):.1%}",
    }
    for label, value in derived.items():
        cells = []
        for result in results:
            try:
                cells.append(value(result))
            except KeyError:  # a stage it divides by was not run (--sql-only)
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if repeats > 1:
        lines += ["", "Every run, in the order run (seconds):", "", header,
                  "| --- |" + " ---: |" * len(results)]
        for stage in stages:
            cells = [" / ".join(f"{seconds:,.1f}" for seconds in result.stages[stage])
                     if stage in result.stages else "-" for result in results]
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        cells = [" / ".join(f"{peak:,.0f}" for peak in result.peaks[WHOLE_BUILD_STAGE])
                 if WHOLE_BUILD_STAGE in result.peaks else "-" for result in results]
        lines.append(f"| {WHOLE_BUILD_STAGE}: peak MB | " + " | ".join(cells) + " |")
    lines += [target_line(result) for result in results
              if result.events_millions >= TARGET_EVENTS_MILLIONS]
    return "\n".join(lines)


def target_line(result: SizeResult) -> str:
    """The issue's targets against this size's medians, each met or not (the whole build's
    targets are left out of a ``--sql-only`` run)."""
    multiple = result.median("SQL layer") / result.median("floor query")
    checks = [f"SQL layer within {TARGET_FLOOR_MULTIPLE:g}x the floor: {multiple:.1f}x, "
              + met(multiple <= TARGET_FLOOR_MULTIPLE)]
    if LEAST_WORK_STAGE in result.stages:
        least = result.median(LEAST_WORK_STAGE) / result.median("floor query")
        checks[0] += f" (the least SQL work alone: {least:.1f}x)"
    if WHOLE_BUILD_STAGE in result.stages:
        whole, peak = result.median(WHOLE_BUILD_STAGE), result.peak(WHOLE_BUILD_STAGE)
        share = result.median(INCREMENT_STAGE) / whole
        checks += [f"whole build under {TARGET_WHOLE_BUILD_SECONDS:,.0f} s: {whole:,.0f} s, "
                   + met(whole < TARGET_WHOLE_BUILD_SECONDS),
                   f"its peak memory under {TARGET_PEAK_MB:,} MB: {peak:,.0f} MB, "
                   + met(peak < TARGET_PEAK_MB),
                   f"the daily load under {TARGET_INCREMENT_SHARE:.0%} of the whole build: "
                   f"{share:.1%}, " + met(share < TARGET_INCREMENT_SHARE)]
    return (f"\nTargets at {result.events_millions:g}M events (medians): " + "; ".join(checks)
            + ".")


def met(condition: bool) -> str:
    return "met" if condition else "not met"


def record(table: str, benchmarks: Path,
           markers: tuple[str, str] = MARKERS) -> None:
    """Put ``table`` between ``markers`` in BENCHMARKS.md (appending them if absent)."""
    start, end = markers
    text = benchmarks.read_text() if benchmarks.exists() else "# Benchmarks\n"
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Scale (`globalshop bench`)\n\n" + block + "\n"
    benchmarks.write_text(text)


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    root = Path(arguments.home).resolve()
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for size in arguments.events:
        print(f"Benchmarking {size:g}M events ({arguments.repeats} runs) under {root}", flush=True)
        results.append(bench_size(size, arguments.repeats, root, arguments.sql_only))
        (root / "bench-results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    command = "globalshop bench " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(results, arguments.repeats, command.strip())
    print(table)
    if arguments.record:
        record(table, paths.PROJECT_DIR / "BENCHMARKS.md",
               SQL_ONLY_MARKERS if arguments.sql_only else MARKERS)
    return 0


def parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(prog="globalshop bench", description=__doc__.split("\n\n")[0])
    add_arguments(bench)
    return bench


def add_arguments(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("--events", type=float, nargs="+", default=list(DEFAULT_SIZES),
                       help="sizes in millions of events (default: 1 10 42)")
    bench.add_argument("--repeats", type=int, default=3, help="runs per size (default 3)")
    bench.add_argument("--home", default="/tmp/globalshop-bench",
                       help="where the benchmark's shops are written (default /tmp/globalshop-bench)")
    bench.add_argument("--sql-only", action="store_true",
                       help="leave out the whole build and the report (generate, floor, SQL layer "
                            "and increment only)")
    bench.add_argument("--no-record", dest="record", action="store_false",
                       help="print only; do not write the table into BENCHMARKS.md")


if __name__ == "__main__":
    sys.exit(main())
