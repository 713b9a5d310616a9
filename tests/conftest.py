import os

import pandas as pd
import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    from forgeml.data import load_bundled

    return load_bundled("breast_cancer")


@pytest.fixture(scope="session")
def breast_cancer_suite(breast_cancer) -> dict:
    """The suite declared in conf for the default experiment."""
    from pathlib import Path

    import yaml

    conf = yaml.safe_load((Path(__file__).parents[1] / "conf/experiments/breast_cancer/parameters_data.yml").read_text())
    return conf["data"]["validation"]["suites"]["breast_cancer"]

