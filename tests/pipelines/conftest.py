"""A temporary copy of the project (conf, src, dvc.yaml) for end-to-end runs."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent

# What `trained_project` (the breast cancer experiment in the test env) registers and compresses.
MODEL = "breast_cancer"
TRAINED = {"logreg", "mlp", "sklearn_logreg", "sklearn_hgb", "tuned"}
COMPRESSED = {"pruned_50", "pruned_channels", "int8_static", "int8_dynamic", "int8_tuned", "distilled", "distilled_without_teacher"}
# A tiny randomly initialised BERT for text projects: six layers, as MiniLM, so the shipped student applies.
TINY_BERT = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 6, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 64}


def read_json(project: Path, path: str):
    return json.loads((project / path).read_text())


def champion(client, model: str = MODEL) -> str:
    return client.get_model_version_by_alias(model, "champion").version


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
        "KEDRO_LOGGING_MODULE_ALLOWLIST": "forgeml.logs",
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


def checked(result: subprocess.CompletedProcess, check: bool = True) -> subprocess.CompletedProcess:
    """``result``; with ``check``, an exit other than 0 fails the caller, with the command's output."""
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-5000:]}")
    return result


def run(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return checked(subprocess.run(args, cwd=project, env=project_env(), capture_output=True, text=True), check)


def kedro(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, "kedro", "run", "--env", "test", *args, check=check)


def _reset_mlflow() -> None:
    """What a command leaves in MLflow's module state, a process's exit would clear: its active run, the URIs and
    experiment it exported, and its stores' cached engines."""
    import mlflow
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistrySqlStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingSqlStore
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    while mlflow.active_run():
        mlflow.end_run("FAILED")  # a run the stopped command left open; its process would have ended it
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        del os.environ[key]  # the experiment and URIs MLflow exported for the command's project
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    # Stores and their engines are cached by URI, and a project's `sqlite:///mlruns/mlflow.db` is relative:
    # the next project's command would write to this one's database.
    for registry in (TrackingStoreRegistry, ModelRegistryStoreRegistry):
        registry._get_store_with_resolved_uri.cache_clear()
    for store in (TrackingSqlStore, RegistrySqlStore):
        for engine in store._engine_map.values():
            engine.dispose()
        store._engine_map.clear()


def run_here(project: Path, group, *args: str, experiment: str | None = None) -> subprocess.CompletedProcess:
    """A ForgeML command (``forgeml.cli.cli`` is what ``kedro`` runs, ``forgeml.cli.main`` the ``forgeml`` command)
    in this process, where a subprocess would spend seconds importing before its work. The error handler, exit
    code and message are the command's own; returns what ``run`` does. The working directory and environment are
    the test's again when it returns.

    The command sees the environment a project command gets (project_env): no MLflow variable a test or an earlier
    command set, which would point it at another store. What it leaves in the process, a process's exit would
    clear: its output goes to buffers of its own (a logger created meanwhile keeps writing there, not to a closed
    capture), and MLflow's state is reset before and after; the test's MLflow variables are then put back."""
    import contextlib
    import io

    import click
    from kedro.framework.startup import bootstrap_project

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("KEDRO_ENV", raising=False)
        if experiment:
            patch.setenv("FORGEML_EXPERIMENT", experiment)
        else:
            patch.delenv("FORGEML_EXPERIMENT", raising=False)
        tests_mlflow = {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")}
        _reset_mlflow()
        bootstrap_project(project)
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                group.main(list(args), prog_name=group.name, standalone_mode=False)
                code = 0
        except SystemExit as stop:
            code = stop.code
        except click.ClickException as stop:  # what standalone mode would print and exit with
            with contextlib.redirect_stderr(err):
                stop.show()
            code = stop.exit_code
        finally:
            _reset_mlflow()
            os.environ.update(tests_mlflow)
    return subprocess.CompletedProcess([group.name, *args], code, out.getvalue(), err.getvalue())


def kedro_run_here(project: Path, *args: str, env: str = "test", experiment: str | None = None,
                   check: bool = True) -> subprocess.CompletedProcess:
    """``kedro run`` in this process (run_here); with ``check``, an exit other than 0 fails the caller."""
    from forgeml.cli import cli

    return checked(run_here(project, cli, "run", "--env", env, *args, experiment=experiment), check)


@pytest.fixture
def kedro_here():
    """``kedro_here(project, *args, env="test", experiment=None)``: kedro_run_here, its exit code for the test to check."""
    return functools.partial(kedro_run_here, check=False)


@pytest.fixture
def forgeml_here():
    """``forgeml_here(project, *args, experiment=None)``: the ``forgeml`` command in this process (run_here)."""
    from forgeml.cli import main

    def forgeml(project: Path, *args: str, experiment: str | None = None) -> subprocess.CompletedProcess:
        return run_here(project, main, *args, experiment=experiment)

    return forgeml


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
    for name in ("06_models/breast_cancer/best_params.json", "06_models/breast_cancer/training_info.json",
                 "07_model_output/breast_cancer/test_predictions.parquet", "08_reporting/breast_cancer/metrics.json"):
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
