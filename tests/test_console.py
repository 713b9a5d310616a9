"""The `forgeml` command as a user runs it: a real process in a scratch folder."""

from __future__ import annotations

import subprocess

import pytest

from tests.pipelines.conftest import project_env


@pytest.mark.parametrize(("args", "variables", "named"), [
    (["promote", "--model", "../../x", "--version", "1", "--reason", "r"], {}, "--model"),
    (["verify", "--model", "a/b"], {}, "--model"),
    (["retrain"], {"FORGEML_EXPERIMENT": "../base"}, "--experiment"),
], ids=["promote", "verify", "retrain-from-environment"])
def test_a_name_that_would_leave_the_project_is_refused_before_anything_is_written(tmp_path, args, variables, named):
    project = tmp_path / "deep" / "project"
    project.mkdir(parents=True)
    result = subprocess.run(["forgeml", *args], cwd=project, env={**project_env(), **variables}, capture_output=True,
                            text=True)
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{named}'" in result.stderr and "which is not an experiment name" in result.stderr
    assert [path.name for path in tmp_path.rglob("*")] == ["deep", "project"]  # no folder, lock or store anywhere


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "empty.csv cannot be read as a CSV table: No columns to parse"),
    ("latin1.csv", "x,y\n\u00e9t\u00e9,1\n".encode("latin-1"), "latin1.csv is not UTF-8 text"),
    ("garbage.parquet", bytes(range(256)) * 4, "garbage.parquet cannot be read as a Parquet table"),
    ("empty.parquet", b"", "empty.parquet cannot be read as a Parquet table"),
], ids=["empty-csv", "latin-1", "corrupt-parquet", "empty-parquet"])
def test_init_on_a_file_it_cannot_read_exits_2_naming_it(tmp_path, name, content, message):
    (tmp_path / "data/01_raw").mkdir(parents=True)
    (tmp_path / "data/01_raw" / name).write_bytes(content)
    result = subprocess.run(["forgeml", "init", "mine", "--table", f"data/01_raw/{name}", "--target", "y",
                             "--intended-use", "u", "--limitations", "l"], cwd=tmp_path, env=project_env(),
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "conf").exists()


@pytest.fixture
def locked_store(tmp_path):
    """A real SQLite registry holding versions 1 and 2 of ``m``, locked by another process (BEGIN EXCLUSIVE)."""
    import sys

    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    run = client.create_run(client.create_experiment("e")).info.run_id
    for _ in range(2):
        client.create_model_version("m", str(tmp_path), run_id=run)
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time\n"
                               "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                               "connection.execute('BEGIN EXCLUSIVE'); print('held', flush=True); time.sleep(120)",
                               str(tmp_path / "mlflow.db")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield uri, client
    holder.kill()
    holder.wait()


@pytest.mark.parametrize("command", [["promote", "--version", "2", "--reason", "r"], ["reconcile"]])
def test_a_locked_store_stops_a_move_with_exit_2_and_what_to_do(tmp_path, locked_store, command):
    uri, client = locked_store
    result = subprocess.run(["forgeml", *command, "--model", "m", "--tracking-uri", uri], cwd=tmp_path,
                            env=project_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "database is locked" in result.stderr and "forgeml reconcile --model m" in result.stderr
    assert "Traceback" not in result.stderr
