import os
import re
from pathlib import Path

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



SHARED_PROJECT = "trained_project"  # the session fixture that trains the breast cancer project (tests/pipelines)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test`'s workers (pytest-xdist, `--dist loadfile`) run a test file each, and the files that use the trained
    breast cancer project all in one worker, so that it is built once. (Not `--dist loadgroup` with xdist_group
    marks: pytest 9.2 silently ignores the groups, pytest-xdist#1386.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling  # xdist alone calls this hook

    tests = Path(__file__).parent
    sharing = {path.relative_to(config.rootpath).as_posix() for path in tests.rglob("test_*.py")
               if re.search(rf"\b{SHARED_PROJECT}\b", path.read_text())}

    class FilesAndTheSharedProject(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return SHARED_PROJECT if file in sharing else file

    return FilesAndTheSharedProject(config, log)
