"""Tuning end to end: a killed study resumes, and two clones share a PostgreSQL study, an MLflow server and a DVC remote."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid

import pandas as pd
import pytest

from forgeml.registry.promotion import mcnemar_p_value
from tests.pipelines.conftest import REPO, init_repo, kedro, make_project, make_run, override_conf, project_env, run
from tests.helpers import free_port, stop_group

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def counted(study) -> dict[int, str]:
    return {t.number: t.state.name for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")}


def load_only_study(storage: str):
    import optuna

    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def test_the_tuned_candidate_beats_its_baseline_on_validation_and_is_no_worse_on_test(trained_project):
    best = json.loads((trained_project / "first_best_params.json").read_text())
    assert best["candidate"] == "mlp" and best["trials"]["complete"] + best["trials"]["pruned"] == 30
    # the study minimizes the validation loss: the tuned candidate's is the best trial's, below the baseline's
    trained = json.loads((trained_project / "first_training_info.json").read_text())
    assert min(trained["tuned"]["history"]["val_loss"]) == pytest.approx(best["values"]["val_loss"])
    assert best["values"]["val_loss"] < min(trained["mlp"]["history"]["val_loss"])
    # on 110 test rows a few rows either way are noise: the baseline must not be significantly better
    predictions = pd.read_parquet(trained_project / "first_test_predictions.parquet")
    labels = pd.read_parquet(trained_project / "data/05_model_input/breast_cancer/test.parquet")["target"].to_numpy()
    baseline_correct, tuned_correct = predictions["mlp"].to_numpy() == labels, predictions["tuned"].to_numpy() == labels
    assert mcnemar_p_value(baseline_correct, tuned_correct) >= 0.05
    plots = trained_project / "data/08_reporting/breast_cancer/tuning"
    for page in ("optimization_history.html", "param_importances.html", "parallel_coordinate.html"):
        html = (plots / page).read_text()
        assert "<html>" in html[:200] and "Plotly.newPlot" in html
        assert "src=\"https://" not in html and len(html) > 1_000_000  # plotly.js is inlined: the page opens offline


def finished_trials(storage_file) -> dict[int, str]:
    """The finished trials, read straight from the SQLite file and read-only: opening it through Optuna
    while the worker creates the schema races the worker to write the schema's version row."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(f"file:{storage_file}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT number, state FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchall()
    except sqlite3.OperationalError:  # no file or no table yet, or the worker holds a write lock
        return {}
    return dict(rows)


def test_a_killed_tuning_run_resumes_the_same_study(trained_project):
    storage_file = trained_project / "data/killed.db"
    storage = f"sqlite:///{storage_file}"
    # a short heartbeat grace: the resumed run waits that long before it fails the killed worker's trial
    params = "tune.n_trials=6,tune.heartbeat_grace_s=15,tune.storage=sqlite:///data/killed.db"
    command = ["kedro", "run", "--env", "test", "--pipelines", "tune", "--params", params]
    worker = subprocess.Popen(command, cwd=trained_project, env=project_env(), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    before: dict[int, str] = {}
    while time.monotonic() < deadline and len(before) < 2:
        time.sleep(0.5)
        before = finished_trials(storage_file)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert 2 <= len(before) < 6, before

    kedro(trained_project, "--pipelines", "tune", "--params", params)

    after = counted(load_only_study(storage))
    assert len(after) == 6
    assert all(after[number] == state for number, state in before.items())  # the finished trials are kept


@pytest.fixture
def postgres_databases():
    psycopg2 = pytest.importorskip("psycopg2")
    names = [f"forgeml_test_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("mlflow", "optuna")]
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f"CREATE DATABASE {name}")
    yield names
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def mlflow_server(postgres_databases, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        ["mlflow", "server", "--backend-store-uri", f"{PG}/{postgres_databases[0]}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=project_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the MLflow server did not start")
            time.sleep(0.5)
    yield url
    stop_group(server)


def git(project, *args):
    return run(project, "git", "-c", "user.email=ci@forgeml", "-c", "user.name=ci", *args)


@pytest.mark.postgres
def test_a_second_clone_pulls_the_first_ones_data_and_joins_its_postgres_study(
    tmp_path, postgres_databases, mlflow_server,
):
    """Two machines as two clones: one PostgreSQL, one MLflow server, one DVC remote (a shared folder)."""
    import mlflow

    remote = f"DVC_REMOTE={tmp_path / 'dvc-remote'}"
    (tmp_path / "first").mkdir()
    first = init_repo(make_project(tmp_path / "first"))
    (first / "conf/local/.gitkeep").touch()
    env = first / "conf/pg_test"
    shutil.copytree(REPO / "conf/postgres", env)
    for file in env.iterdir():  # the shipped conf/postgres, pointed at this test's server and database
        file.write_text(file.read_text().replace("http://127.0.0.1:5001", mlflow_server)
                        .replace("forgeml_optuna", postgres_databases[1]))
    override_conf(first, "pg_test", "parameters_tune.yml", {"tune": {"n_trials": 6, "progress": False}})
    make_run(first, "breast_cancer", "STAGE=data", env="pg_test")
    run(first, "make", "-o", "install", "push", "STAGE=data", remote)
    git(first, "add", "-A")
    git(first, "commit", "-q", "-m", "validated data")

    second = tmp_path / "second"
    run(tmp_path, "git", "clone", "-q", str(first), str(second))
    assert not (second / "data/05_model_input/breast_cancer/train.parquet").exists()
    run(second, "make", "-o", "install", "pull", "STAGE=data", remote)
    for split in ("train", "val", "test"):
        path = f"data/05_model_input/breast_cancer/{split}.parquet"
        assert (second / path).read_bytes() == (first / path).read_bytes()

    tune = ["kedro", "run", "--env", "pg_test", "--pipelines", "tune"]
    joining = subprocess.Popen(tune, cwd=second, env=project_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    run(first, *tune)
    assert joining.wait(timeout=600) == 0, joining.stderr.read()[-3000:]

    study = load_only_study(f"{PG}/{postgres_databases[1]}")
    trials = counted(study)
    assert len(trials) == 6
    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("breast_cancer")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    by_id = {r.info.run_id: r for r in runs}
    pipeline_runs = {r.info.run_id for r in runs if r.info.run_name == "tune"}
    assert len(pipeline_runs) == 2  # one per clone
    assert [r.info.run_name for r in runs].count(f"study {study.study_name}") == 1
    study_run = by_id[study.user_attrs["mlflow_run_id"]]
    assert study_run.data.tags["mlflow.parentRunId"] in pipeline_runs
    trial_runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study_run.info.run_id]
    numbers = [int(r.data.tags["forgeml.trial"]) for r in trial_runs]
    assert len(numbers) == len(set(numbers))  # no trial run twice
    assert set(trials) <= set(numbers)  # none lost: every counted trial has its run
    assert all(r.info.status != "RUNNING" for r in trial_runs)
    assert len({r.data.tags["forgeml.worker"] for r in trial_runs}) == 2  # both clones ran trials
    assert {a.path for a in client.list_artifacts(study_run.info.run_id)} >= {"best_params.json", "plots"}
