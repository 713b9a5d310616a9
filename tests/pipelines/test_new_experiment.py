"""A user's own table through `forgeml init` and `make run`, with no edit: duplicates and conflicting labels
counted, a champion registered with the user's card, and stages that follow the data when it moves or changes."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from tests.pipelines.conftest import REPO, make_project, override_conf, run

INTENDED_USE = "Triage research on our own aspirates (a test)."


def make_run(project, *args: str) -> str:
    """`make run` as a user types it; the venv is this one, so make's own install step is taken as done."""
    return run(project, "make", "-o", "install", "run", "EXPERIMENT=tumours", "ENV=test", *args).stdout


@pytest.fixture(scope="module")
def own_table(tmp_path_factory, breast_cancer):
    """Breast cancer as a user's CSV: 30% of its rows again as exact duplicates, 5% again with the other label."""
    project = make_project(tmp_path_factory.mktemp("own_table"))
    shutil.copy(REPO / "Makefile", project / "Makefile")
    run(project, "git", "init", "-q")
    run(project, "git", "-c", "user.email=ci@forgeml", "-c", "user.name=ci", "commit", "-q", "--allow-empty", "-m", "init")
    table = breast_cancer.rename(columns={"target": "diagnosis"})
    copies = table.sample(frac=0.3, random_state=0)
    conflicting = table.sample(frac=0.05, random_state=1).assign(diagnosis=lambda frame: 1 - frame["diagnosis"])
    pd.concat([table, copies, conflicting]).sample(frac=1.0, random_state=2).to_csv(
        project / "data/01_raw/tumours.csv", index=False)
    run(project, "forgeml", "init", "tumours", "--table", "data/01_raw/tumours.csv", "--target", "diagnosis",
        "--intended-use", INTENDED_USE, "--limitations", "Made-up duplicates.")
    # the test env, quicker still (the experiment as written; tests/test_new_experiment.py parses every template)
    override_conf(project, "test", "parameters.yml", {"tune": {"n_trials": 2}, "compress": {"methods": {"distilled": None}}})
    (project / "run.log").write_text(make_run(project))
    return project


def test_init_then_make_run_counts_duplicates_and_registers_a_champion_with_the_users_card(own_table, client_for):
    log = (own_table / "run.log").read_text()
    for stage in ("data", "tune", "train", "compress", "evaluate", "release"):
        assert f"Running stage 'tumours-{stage}'" in log
    report = json.loads((own_table / "data/08_reporting/tumours/validation/data.json").read_text())
    counts = report["duplicates"]
    assert report["success"] and counts["rows"] == 569 + 171 + 28 and counts["rows_kept"] == counts["rows"]
    assert counts["exact_duplicate_rows"] >= 171 and counts["conflicting_groups"] >= 28  # the ones made, at least
    assert "Duplicates and conflicting labels" in (own_table / "data/08_reporting/tumours/validation/data.html").read_text()
    client = client_for(own_table)
    champion = client.get_model_version_by_alias("tumours", "champion")
    assert INTENDED_USE in champion.description and "breast" not in champion.description.lower()  # no other data's words
    assert f"| exact duplicate rows (same input, same label) | {counts['exact_duplicate_rows']} |" in champion.description
    metrics = json.loads((own_table / "data/08_reporting/tumours/metrics.json").read_text())
    assert {"sklearn_hgb", "sklearn_logreg", "mlp", "tuned"} <= set(metrics)


def test_make_run_follows_the_data_to_another_file_and_when_that_file_changes(own_table, breast_cancer):
    catalog = own_table / "conf/experiments/tumours/catalog.yml"
    table = breast_cancer.rename(columns={"target": "diagnosis"})
    table.head(400).to_csv(own_table / "data/01_raw/tumours_2027.csv", index=False)
    catalog.write_text(catalog.read_text().replace("data/01_raw/tumours.csv", "data/01_raw/tumours_2027.csv"))
    assert "Running stage 'tumours-data'" in make_run(own_table, "STAGE=data")  # dvc.yaml followed the catalog
    assert "data/01_raw/tumours_2027.csv" in (own_table / "dvc.yaml").read_text()
    assert len(pd.read_parquet(own_table / "data/02_intermediate/tumours/table.parquet")) == 400
    table.head(390).to_csv(own_table / "data/01_raw/tumours_2027.csv", index=False)  # the file itself changes
    assert "Running stage 'tumours-data'" in make_run(own_table, "STAGE=data")
    assert len(pd.read_parquet(own_table / "data/02_intermediate/tumours/table.parquet")) == 390
