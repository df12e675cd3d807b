"""What a dbt Python model's `dbt.ref()` returns, as a pandas DataFrame, on any adapter."""

import pandas as pd


def to_pandas(relation) -> pd.DataFrame:
    """DuckDB relations have `.df()`; Spark DataFrames (Databricks) have `.toPandas()`."""
    if hasattr(relation, "df"):
        return relation.df()
    return relation.toPandas()
