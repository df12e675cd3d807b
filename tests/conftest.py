import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A file of ../shared/data; skips when absent, except in CI where its absence is a failure."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"real data file {path} is absent (it lives in ../shared/data beside the repo)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def online_retail_file() -> Path:
    return shared_file("online_retail/online_retail.parquet")


@pytest.fixture(scope="session")
def events_sample_file() -> Path:
    return shared_file("ecommerce_behavior_multi_category/2019-Oct_head.csv")


@pytest.fixture(scope="session")
def customer_profiles_file() -> Path:
    return shared_file("customer_personality/marketing_campaign.csv")
