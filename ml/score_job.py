"""`globalshop score`: the score tables on whichever warehouse the dbt target points at.

On DuckDB the dbt Python models in python_models/ score the customers during `dbt build`; dbt-spark
runs Python models only on Databricks, so a Spark warehouse gets its score tables from this job.
The job runs those same Python models: it reads dbt's manifest for each model's file, rendered
config and refs, calls the model's ``model(dbt, session)`` with a small stand-in for dbt's ``dbt``
object whose refs read the marts through a target adapter (DuckDB through duckdb, Spark through a
local SparkSession configured exactly as dbt's spark target), and writes what the model returns
back to the same target. The models call ml/scoring.py, so both targets run one code path.
Then dbt builds the SQL models that read the score tables (customer_recommendations,
model_metrics, model_validation_predictions), which `dbt build` leaves out on Spark.
"""

import importlib.util
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Protocol

import pandas as pd
import pyarrow as pa
import yaml

from ml import paths
from ml.build import dbt_environment, run_dbt
from ml.publish import build_lock


@dataclass(frozen=True)
class PythonModel:
    """A dbt Python model as the manifest describes it."""

    name: str
    path: Path
    config: dict[str, Any]
    refs: list[str]


def python_models() -> dict[str, PythonModel]:
    """The project's dbt Python models, from a fresh `dbt parse` of the current target (so each
    model's config has its dbt vars rendered exactly as in a dbt run)."""
    return_code, log_path = run_dbt(["parse"], "dbt_parse.log")
    if return_code != 0:
        raise RuntimeError(f"`dbt parse` failed, so the Python models cannot be found; see {log_path}.")
    manifest = json.loads((paths.home() / "target" / "manifest.json").read_text())
    return {node["name"]: PythonModel(name=node["name"],
                                      path=paths.PROJECT_DIR / node["original_file_path"],
                                      config=node["config"],
                                      refs=[ref["name"] for ref in node["refs"]])
            for node in manifest["nodes"].values() if node.get("language") == "python"}


class _ModelConfig(dict):
    """``dbt.config(...)`` (ignored: the job always writes a table) and ``dbt.config.get(key)``."""

    def __call__(self, **_: Any) -> None:
        return None


class ModelContext:
    """The stand-in for the ``dbt`` object a Python model receives: ``ref`` reads from the target."""

    def __init__(self, model: PythonModel, read: Callable[[str], Any]) -> None:
        self.config = _ModelConfig(model.config)
        self._read = read

    def ref(self, name: str) -> Any:
        # what the target reads, handed to ml.dbt_frames as dbt would hand it a relation
        return self._read(name)


def load_model_function(model: PythonModel) -> Callable[..., pd.DataFrame]:
    spec = importlib.util.spec_from_file_location(f"dbt_python_model_{model.name}", model.path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


class TargetAdapter(Protocol):
    """Where the marts are read from and the score tables written to."""

    name: str

    def read(self, table: str) -> Any:
        """The table as ml.dbt_frames reads it: a DuckDB relation or a pandas DataFrame."""

    def write(self, table: str, frame: pd.DataFrame) -> None: ...


def dbt_target() -> dict[str, Any]:
    """The output of profiles.yml that dbt would use for this shop (GLOBALSHOP_TARGET), rendered
    by dbt itself with the environment `globalshop build` gives dbt, so both see one config."""
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(dbt_environment())
    profile = yaml.safe_load((paths.PROJECT_DIR / "profiles.yml").read_text())["globalshop"]
    renderer = ProfileRenderer({})
    target_name = renderer.render_value(profile["target"])
    if target_name not in profile["outputs"]:
        raise ValueError(f"GLOBALSHOP_TARGET={target_name!r} is not a target of "
                         f"{paths.PROJECT_DIR / 'profiles.yml'}; use one of {sorted(profile['outputs'])}.")
    return {"name": target_name, **renderer.render_data(profile["outputs"][target_name])}


class DuckDBTarget:
    """The published DuckDB warehouse, written under the build lock so no build runs meanwhile."""

    def __init__(self, connection: Any, name: str = "duckdb") -> None:
        self.connection = connection
        self.name = name

    def read(self, table: str) -> Any:
        # a relation, as dbt-duckdb gives a Python model: ml.dbt_frames reads only the columns
        # and sources a model needs (at 42M events, whole frames of the marts ran out of 24 GB)
        return self.connection.table(f'main."{table}"')

    def write(self, table: str, frame: pd.DataFrame) -> None:
        self.connection.register("score_frame", frame)
        try:
            self.connection.execute(f'create or replace table main."{table}" as select * from score_frame')
        finally:
            self.connection.unregister("score_frame")


class SparkTarget:
    """Tables of the spark target's schema, through a SparkSession set up as dbt-spark sets it."""

    def __init__(self, session: Any, schema: str, name: str = "spark") -> None:
        self.session = session
        self.schema = schema
        self.name = name

    def read(self, table: str) -> pd.DataFrame:
        # through Arrow, so dates and timestamps arrive as DuckDB's .df() gives them
        frame = self.session.table(f"{self.schema}.{table}").toArrow().to_pandas(date_as_object=False)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        return frame

    def write(self, table: str, frame: pd.DataFrame) -> None:
        spark_frame = self.session.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))
        spark_frame.write.mode("overwrite").format("parquet").saveAsTable(f"{self.schema}.{table}")


@contextmanager
def connect_target(target: dict[str, Any] | None = None) -> Iterator[TargetAdapter]:
    """The adapter of the current dbt target (or of ``target``, a rendered profiles.yml output)."""
    target = target or dbt_target()
    if target["type"] == "duckdb":
        yield from _duckdb_target(target)
    elif target["type"] == "spark":
        yield from _spark_target(target)
    else:
        raise ValueError(f"`globalshop score` cannot write to a {target['type']!r} target "
                         f"({target['name']!r} in profiles.yml). On Databricks the dbt Python "
                         "models score natively: run `dbt build` there (README).")


def _duckdb_target(target: dict[str, Any]) -> Iterator[TargetAdapter]:
    import duckdb

    path = Path(target["path"])
    if not path.exists():
        raise FileNotFoundError(f"No warehouse at {path}. Build it first with `globalshop build`.")
    # with the profile's settings, as dbt-duckdb opens it: the models' reads run in DuckDB
    config = {"threads": int(target.get("threads", 1)), **target.get("settings", {})}
    with build_lock(path), duckdb.connect(str(path), config=config) as connection:
        yield DuckDBTarget(connection, target["name"])


def _spark_target(target: dict[str, Any]) -> Iterator[TargetAdapter]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise RuntimeError("the spark target needs PySpark: pip install -e '.[spark]' "
                           "(and Java 17).") from error
    builder = SparkSession.builder.enableHiveSupport()
    for name, value in target.get("server_side_parameters", {}).items():
        builder = builder.config(name, str(value))
    # as dbt-spark does, so SQL behaves the same in the job as in the build
    builder = builder.config("spark.sql.ansi.enabled", "false")
    session = builder.getOrCreate()
    try:
        yield SparkTarget(session, target["schema"], target["name"])
    finally:
        session.stop()


@dataclass
class ScoreResult:
    target: str
    rows: dict[str, int]
    seconds: float
    readers: list[str]  # the SQL models built on the score tables


def score(tables: list[str] | None = None) -> ScoreResult:
    """Run the dbt Python models ``tables`` (default: all) on the current dbt target's marts and
    write their tables back to that target (a model that refs another runs after it), then
    build the SQL models that read those tables (:func:`score_readers`)."""
    started = time.perf_counter()
    models = python_models()
    unknown = sorted(set(tables or []) - set(models))
    if unknown:
        raise ValueError(f"unknown score table(s) {', '.join(unknown)}; the dbt Python models "
                         f"are {', '.join(sorted(models))}.")
    chosen = tables or sorted(models)
    # In a process of its own, which takes its JVM with it on the spark target: the Derby
    # metastore that JVM boots admits no other JVM, such as the one of the dbt build below.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        try:
            target_name, rows = process.submit(write_score_tables, models, chosen).result()
        except BrokenProcessPool as error:
            raise RuntimeError("the scoring process was killed before it finished (on Linux "
                               "usually by the out-of-memory killer: see `dmesg`); the score "
                               "tables it had written are kept") from error
    readers = score_readers(set(chosen))
    if readers:
        build_readers(readers)
    return ScoreResult(target_name, rows, time.perf_counter() - started, readers)


def write_score_tables(models: dict[str, PythonModel], chosen: list[str]
                       ) -> tuple[str, dict[str, int]]:
    """Run the Python models ``chosen`` (a model that refs another after it) and write their
    tables to the current target; returns the target's name and each table's rows."""
    order = TopologicalSorter({name: [ref for ref in models[name].refs if ref in chosen]
                               for name in chosen}).static_order()
    rows = {}
    with connect_target() as target:
        cache: dict[str, Any] = {}

        def read(name: str) -> Any:
            if name not in cache:
                cache[name] = target.read(name)
            return cache[name]

        for name in order:
            frame = load_model_function(models[name])(ModelContext(models[name], read), None)
            target.write(name, frame)
            cache.pop(name, None)
            rows[name] = len(frame)
        return target.name, rows


def score_readers(written: set[str]) -> list[str]:
    """The SQL models that read the score tables (customer_recommendations, model_metrics, ...),
    of those whose every score table is in ``written``. On the spark target `dbt build` leaves
    them out with the Python models (selectors.yml), so the score job builds them."""
    manifest = json.loads((paths.home() / "target" / "manifest.json").read_text())
    nodes = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    python = {node["name"] for node in nodes if node.get("language") == "python"}
    readers = []
    for node in nodes:
        reads = {ref["name"] for ref in node["refs"]} & python
        if node.get("language") != "python" and reads and reads <= written:
            readers.append(node["name"])
    return sorted(readers)


def build_readers(names: list[str]) -> None:
    """`dbt build` of ``names`` (their data tests included), on the DuckDB target under the
    warehouse's build lock as the score tables were written."""
    target = dbt_target()
    with (build_lock(Path(target["path"])) if target["type"] == "duckdb"
          else nullcontext()) as lock:
        return_code, log_path = run_dbt(["build", "--select", *names], "dbt_score_readers.log",
                                        pass_fds=() if lock is None else (lock,))
    if return_code != 0:
        raise RuntimeError(f"the score tables were written, but building what reads them "
                           f"({', '.join(names)}) failed; see {log_path}.")
