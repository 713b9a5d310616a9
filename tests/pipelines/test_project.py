"""End to end, in a temporary project: DVC stages, MLflow runs and registry, promotion, and failures."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.conftest import COMPRESSED, MODEL, REPO, TRAINED, champion, kedro, read_json, run

def test_dvc_yaml_is_generated_from_the_pipelines():
    result = run(REPO, "forgeml", "dvc", "--check")
    assert "matches" in result.stdout


def test_first_repro_runs_every_stage_and_the_second_runs_none(trained_project):
    first = (trained_project / "first_repro.log").read_text()
    for stage in ("data", "tune", "train", "compress", "evaluate", "release"):
        assert f"Running stage 'breast_cancer-{stage}'" in first
    assert "digits" not in first  # only the experiment asked for runs
    second = run(trained_project, "dvc", "repro", "breast_cancer-release")
    assert "Running stage" not in second.stdout
    assert "didn't change, skipping" in second.stdout


def test_the_run_piped_to_a_file_has_a_line_per_training_and_trial_and_no_bars(trained_project):
    """As cron or Airflow keeps it: `forgeml repro` (what `make run` runs) with its output in a file."""
    log = (trained_project / "first_repro.log").read_text()
    assert len(log.splitlines()) <= 300, len(log.splitlines())
    assert "\r" not in log and "Downloading artifacts" not in log
    assert re.search(r"forgeml.training.loop: mlp: \d+ epochs.*; best validation loss", log)  # a training's one line
    assert "tuning mlp: trial 0 complete" in log


def test_linear_and_mlp_candidates_reach_095(trained_project):
    metrics = read_json(trained_project, "data/08_reporting/breast_cancer/metrics.json")
    assert set(metrics) == TRAINED | COMPRESSED
    assert metrics["logreg"]["accuracy"] >= 0.95
    assert metrics["mlp"]["accuracy"] >= 0.95
    for scores in metrics.values():
        assert scores["size_bytes"] > 0 and scores["latency_b1_p50_ms"] > 0 and scores["latency_b256_p50_ms"] > 0
        assert 0 <= scores["ece"] < 0.2 and scores["roc_auc"] > 0.95
        assert 0.5 < scores["robustness_noise"] <= 1.0  # tables get noise only
        assert "robustness_rotation" not in scores
    assert (trained_project / "data/08_reporting/breast_cancer/confusion_matrices/mlp.png").stat().st_size > 1000


def test_champion_loads_by_alias_and_scores_as_reported(trained_project, mlflow_client):
    import mlflow

    promotion = read_json(trained_project, "data/08_reporting/breast_cancer/promotion.json")
    assert promotion["promoted"] and promotion["champion_before"] is None
    test = pd.read_parquet(trained_project / "data/05_model_input/breast_cancer/test.parquet")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    accuracy = float(np.mean(model.predict(test.drop(columns=["target"])) == test["target"].to_numpy()))
    assert accuracy == pytest.approx(promotion["challenger"]["score"])
    candidate = promotion["challenger"]["candidate"]
    assert accuracy == pytest.approx(read_json(trained_project, "data/08_reporting/breast_cancer/metrics.json")[candidate]["accuracy"])
    version = mlflow_client.get_model_version(MODEL, champion(mlflow_client))
    assert version.tags["forgeml.candidate"] == candidate
    assert "first challenger" in version.tags["forgeml.champion.reason"]


def test_runs_carry_lineage_tags_and_epoch_curves(trained_project, mlflow_client):
    experiment = mlflow_client.get_experiment_by_name(MODEL)
    runs = mlflow_client.search_runs([experiment.experiment_id], max_results=100)
    parents = {r.info.run_name: r for r in runs if "mlflow.parentRunId" not in r.data.tags}  # newest first: the first run's
    stages = ("data", "tune", "train", "compress", "evaluate", "release")
    assert set(stages) <= set(parents)  # one run per stage, though `forgeml repro` ran them in one process
    assert {parents[stage].info.status for stage in stages} == {"FINISHED"}
    table_md5 = hashlib.md5((trained_project / "data/02_intermediate/breast_cancer/table.parquet").read_bytes()).hexdigest()
    for parent in parents.values():
        tags = parent.data.tags
        assert len(tags["forgeml.git_commit"]) == 40
        assert tags["forgeml.data_md5"] == table_md5
    release_id = parents["release"].info.run_id
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == release_id}
    assert set(children) == TRAINED | COMPRESSED
    curve = mlflow_client.get_metric_history(children["mlp"].info.run_id, "val_loss")
    assert len(curve) > 5 and [m.step for m in curve] == list(range(len(curve)))
    assert "test_accuracy" in children["mlp"].data.metrics


def test_rerun_with_nothing_changed_keeps_the_champion(trained_project, mlflow_client, kedro_here):
    before = champion(mlflow_client)
    # The release again, over the same candidates and evaluation (training them again from the same data and
    # seeds would give the same models): each is registered as a new version, and none replaces the champion.
    released = kedro_here(trained_project, "--pipelines", "release")
    assert released.returncode == 0, released.stderr[-3000:]
    promotion = read_json(trained_project, "data/08_reporting/breast_cancer/promotion.json")
    assert not promotion["promoted"]
    # the same models on the same test rows never beat the champion by the margin and significantly at once
    assert promotion["rule"] in ("min_improvement", "significance"), promotion["reason"]
    assert champion(mlflow_client) == before
    challenger = mlflow_client.get_model_version_by_alias(MODEL, "challenger")
    assert int(challenger.version) > int(before)


def write_source(project, frame: pd.DataFrame, env: str = "corrupt"):
    """``frame`` as the raw CSV, read through an env of its own (more bad files: test_own_data.py)."""
    (project / "data/01_raw/source.csv").write_text(frame.to_csv(index=False))
    conf = project / "conf" / env
    conf.mkdir(exist_ok=True)
    (conf / "catalog.yml").write_text(
        "source:\n  type: pandas.CSVDataset\n  filepath: data/01_raw/source.csv\n"
    )


CORRUPTIONS = {
    "nan-column": (lambda t: t.assign(**{"mean area": np.nan}), "expect_column_values_to_not_be_null on column 'mean area'"),
    "unseen-label": (lambda t: t.assign(target=t["target"].replace({1: 7})), "expect_column_values_to_be_in_set on column 'target'"),
    "dropped-column": (lambda t: t.drop(columns=["worst radius"]), "expect_table_columns_to_match_set"),
    "out-of-range": (lambda t: t.assign(**{"mean radius": t["mean radius"] * 1000}), "expect_column_values_to_be_between on column 'mean radius'"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_input_stops_before_training_and_keeps_everything(trained_project, mlflow_client, breast_cancer, case,
                                                                  kedro_here):
    corrupt, expected = CORRUPTIONS[case]
    champion_before = champion(mlflow_client)
    versions_before = len(mlflow_client.search_model_versions(f"name='{MODEL}'"))
    train_before = (trained_project / "data/05_model_input/breast_cancer/train.parquet").read_bytes()
    write_source(trained_project, corrupt(breast_cancer.copy()))

    result = kedro_here(trained_project, env="corrupt")

    assert result.returncode == 2
    assert "Data validation 'table' failed" in result.stderr and expected in result.stderr
    assert "data/08_reporting/breast_cancer/validation/data.html" in result.stderr
    assert (trained_project / "data/08_reporting/breast_cancer/validation/data.html").stat().st_size > 10_000
    assert not read_json(trained_project, "data/08_reporting/breast_cancer/validation/data.json")["success"]
    log = result.stderr + result.stdout
    assert "Running node: validate_data" in log and "Running node: train_candidates" not in log
    assert (trained_project / "data/05_model_input/breast_cancer/train.parquet").read_bytes() == train_before
    assert champion(mlflow_client) == champion_before
    assert len(mlflow_client.search_model_versions(f"name='{MODEL}'")) == versions_before


def write_missing_file_env(project) -> str:
    missing = project / "conf/missing_file"
    missing.mkdir(exist_ok=True)
    (missing / "catalog.yml").write_text("source:\n  type: pandas.CSVDataset\n  filepath: data/01_raw/nowhere.csv\n")
    return "missing_file"


@pytest.mark.parametrize(("env", "args", "message"), [
    ("test", ("--pipelines", "train", "--params", "train.candidates.mlp.model.family=xgboost"), "model family 'xgboost'"),
    ("test", ("--pipelines", "data", "--params", "experiment.target=label"), "target column 'label' is not in"),
    ("missing_file", ("--pipelines", "data"), "data/01_raw/nowhere.csv"),
], ids=["unknown-model", "missing-target", "missing-file"])
def test_configuration_errors_exit_2_with_a_paragraph(trained_project, kedro_here, env, args, message):
    write_missing_file_env(trained_project)
    result = kedro_here(trained_project, *args, env=env)
    assert result.returncode == 2
    assert "ForgeML stopped" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_kedro_run_as_typed_exits_2_with_the_paragraph_and_no_traceback(trained_project):
    """The tests above run ForgeML's `kedro run` in their own process; this is the command a user types."""
    result = kedro(trained_project, "--env", write_missing_file_env(trained_project), "--pipelines", "data", check=False)
    assert result.returncode == 2
    assert "ForgeML stopped" in result.stderr and "data/01_raw/nowhere.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_card_tag_or_parameter_in_the_store_names_an_absolute_path(trained_project, mlflow_client):
    absolute = re.compile(r"(^|[\s'\"`(=:,\[])/(tmp|home|root|work|srv|usr|var|opt)/")

    def offenders(values: dict[str, str]) -> dict[str, str]:
        return {key: value for key, value in values.items()
                if not key.startswith("mlflow.") and (str(trained_project) in value or absolute.search(value))}

    experiments = [experiment.experiment_id for experiment in mlflow_client.search_experiments()]
    runs = mlflow_client.search_runs(experiments, max_results=5000)
    assert len(runs) > 10
    for run_ in runs:
        assert not offenders({**run_.data.params, **run_.data.tags}), run_.info.run_name
    versions = mlflow_client.search_model_versions(f"name='{MODEL}'")
    assert versions
    for version in versions:
        assert not offenders({**version.tags, "description": version.description or ""}), version.version
