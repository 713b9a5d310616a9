"""A temporary copy of the project (conf, src, dvc.yaml) for end-to-end runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def project_env() -> dict[str, str]:
    """The environment of a project command: the test process's own, less any MLflow URI a test set
    (MLflow exports them as environment variables, which would point the project at another store)."""
    inherited = {key: value for key, value in os.environ.items()
                 if not key.startswith("MLFLOW_") and key not in ("KEDRO_ENV", "FORGEML_EXPERIMENT")}
    return {
        **inherited,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "KEDRO_LOGGING_CONFIG": str(REPO / "conf/logging.yml"),
        "DVC_NO_ANALYTICS": "1",
    }


def make_project(root: Path) -> Path:
    for name in ("pyproject.toml", "dvc.yaml", ".gitignore", "Makefile"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf/local").mkdir()
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for layer in ("01_raw", "02_intermediate", "05_model_input", "06_models", "07_model_output", "08_reporting"):
        (root / "data" / layer).mkdir(parents=True)
    (root / "mlruns").mkdir()
    return root


def override_conf(project: Path, layer: str, file: str, changes: dict) -> None:
    """Deep-merge ``changes`` into ``conf/<layer>/<file>`` of a test project (the shipped file, or a new one);
    ``layer`` is an env (``test``) or an experiment (``experiments/digits``)."""
    import yaml

    def merge(into: dict, update: dict) -> dict:
        for key, value in update.items():
            into[key] = merge(into.get(key) or {}, value) if isinstance(value, dict) else value
        return into

    path = project / "conf" / layer / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()) if path.exists() else {}, changes)))


def run(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=project, env=project_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def kedro(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, "kedro", "run", "--env", "test", *args, check=check)


def kedro_env(project: Path, env: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, "kedro", "run", "--env", env, *args, check=check)


def kedro_experiment(project: Path, experiment: str, *args: str, env: str = "test",
                     check: bool = True) -> subprocess.CompletedProcess:
    """``kedro run`` of ``experiment`` (a folder under conf/experiments) in ``env``."""
    return run(project, "kedro", "run", "--experiment", experiment, "--env", env, *args, check=check)


def init_repo(project: Path, dvc: bool = True) -> Path:
    """Make ``project`` a git repo with one commit (and a DVC repo), as a user's checkout is."""
    run(project, "git", "init", "-q")
    run(project, "git", "-c", "user.email=ci@forgeml", "-c", "user.name=ci", "commit", "-q", "--allow-empty", "-m", "init")
    if dvc:
        run(project, "dvc", "init", "-q")
        run(project, "dvc", "config", "core.analytics", "false")
    return project


def make_run(project: Path, experiment: str, *args: str, env: str = "test") -> str:
    """`make run EXPERIMENT=... ENV=...` as a user types it (the project needs the Makefile); the venv is
    this one, so make's own install step is taken as done."""
    return run(project, "make", "-o", "install", "run", f"EXPERIMENT={experiment}", f"ENV={env}", *args).stdout


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    """A project after one full run of every pipeline through `forgeml repro`, as `make run` does (a git and DVC
    repo; test_project's second run, through `dvc repro`, finds nothing to do)."""
    project = init_repo(make_project(tmp_path_factory.mktemp("forgeml")))
    (project / "conf/local/.gitkeep").touch()  # DVC needs the conf/local dependency to exist
    first = run(project, "forgeml", "repro", "breast_cancer-release")
    (project / "first_repro.log").write_text(first.stdout + first.stderr)
    for name in ("06_models/breast_cancer/best_params.json", "08_reporting/breast_cancer/metrics.json"):
        shutil.copy(project / "data" / name, project / f"first_{Path(name).name}")  # as the first run left them
    return project


def tracking_uri(project: Path) -> str:
    return f"sqlite:///{project / 'mlruns/mlflow.db'}"


@pytest.fixture
def client_for():
    """Connect to a project's store: ``client_for(project)`` gives an MlflowClient; the test process's
    MLflow URIs are reset afterwards."""
    import mlflow

    def connect(project):
        mlflow.set_tracking_uri(tracking_uri(project))
        mlflow.set_registry_uri(tracking_uri(project))
        return mlflow.MlflowClient()

    yield connect
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def mlflow_client(trained_project, client_for):
    return client_for(trained_project)
