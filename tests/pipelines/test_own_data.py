"""A user's own table and text table through `forgeml init` and `make run`, with no edit: duplicates and
conflicting labels counted, a champion registered with the user's card, stages that follow the data when it moves
or changes, and bad files stopped with exit 2 and the champion kept. (A user's image folder: test_images.py.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.conftest import TINY_BERT, init_repo, make_project, make_run, override_conf, run

INTENDED_USE = "Triage research on our own aspirates (a test)."


@pytest.fixture(scope="module")
def own_table(tmp_path_factory, breast_cancer):
    """Breast cancer as a user's CSV: 30% of its rows again as exact duplicates, 5% again with the other label."""
    project = init_repo(make_project(tmp_path_factory.mktemp("own_table")), dvc=False)  # make run inits DVC
    table = breast_cancer.rename(columns={"target": "diagnosis"})
    copies = table.sample(frac=0.3, random_state=0)
    conflicting = table.sample(frac=0.05, random_state=1).assign(diagnosis=lambda frame: 1 - frame["diagnosis"])
    pd.concat([table, copies, conflicting]).sample(frac=1.0, random_state=2).to_csv(
        project / "data/01_raw/tumours.csv", index=False)
    run(project, "forgeml", "init", "tumours", "--table", "data/01_raw/tumours.csv", "--target", "diagnosis",
        "--intended-use", INTENDED_USE, "--limitations", "Made-up duplicates.")
    # the test env, quicker still: the experiment as written, a shorter study, one compression method
    # (tests/test_new_experiment.py parses every template; test_compression_pipeline.py runs every method)
    override_conf(project, "test", "parameters.yml", {"tune": {"n_trials": 2},
                                                      "compress": {"methods": {"distilled": None, "pruned_50": None}}})
    (project / "run.log").write_text(make_run(project, "tumours"))
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
    assert "Running stage 'tumours-data'" in make_run(own_table, "tumours", "STAGE=data")  # dvc.yaml followed the catalog
    assert "data/01_raw/tumours_2027.csv" in (own_table / "dvc.yaml").read_text()
    assert len(pd.read_parquet(own_table / "data/02_intermediate/tumours/table.parquet")) == 400
    table.head(390).to_csv(own_table / "data/01_raw/tumours_2027.csv", index=False)  # the file itself changes
    assert "Running stage 'tumours-data'" in make_run(own_table, "tumours", "STAGE=data")
    assert len(pd.read_parquet(own_table / "data/02_intermediate/tumours/table.parquet")) == 390


# --- bad input: a clear error naming the file or column, exit 2, nothing lost ----------------------------

def _with_inf(table):
    table = table.copy()
    table.loc[3, "mean radius"], table.loc[5, "worst area"] = np.inf, -np.inf
    return table.to_csv(index=False).encode()


def _numbers_as_text(table):
    return table.assign(**{"mean texture": table["mean texture"].map(lambda v: f"{v:.1f}".replace(".", ","))}).to_csv(index=False).encode()


BAD_TABLES = {  # file name, its bytes from the user's table, what the error names
    "inf": ("tumours_inf.csv", _with_inf, r"expect_column_values_to_be_between on column '(mean radius|worst area)'"),
    "numbers-as-text": ("tumours_text.csv", _numbers_as_text, r"non-numeric feature columns: mean texture \(for example"),
    "header-only": ("tumours_header.csv", lambda t: t.head(0).to_csv(index=False).encode(), r"has no rows"),
    "empty-file": ("tumours_empty.csv", lambda t: b"", r"data/01_raw/tumours_empty\.csv"),
    "corrupt-parquet": ("tumours.parquet", lambda t: b"PAR1 not really a parquet file", r"data/01_raw/tumours\.parquet"),
}


@pytest.mark.parametrize("case", BAD_TABLES)
def test_bad_tables_stop_with_exit_2_naming_the_file_or_column_and_keep_the_champion(own_table, client_for, kedro_here,
                                                                                      breast_cancer, case):
    import re

    name, damage, message = BAD_TABLES[case]
    client = client_for(own_table)
    champion = client.get_model_version_by_alias("tumours", "champion").version
    versions = len(client.search_model_versions("name='tumours'"))
    accepted = (own_table / "data/02_intermediate/tumours/table.parquet").read_bytes()
    (own_table / "data/01_raw" / name).write_bytes(damage(breast_cancer.rename(columns={"target": "diagnosis"})))
    env = f"bad_{case.replace('-', '_')}"
    override_conf(own_table, env, "catalog.yml", {"source": {"type": "forgeml.datasets.TableFileDataset",
                                                            "filepath": f"data/01_raw/{name}"}})

    result = kedro_here(own_table, "--pipelines", "data,train,evaluate,release", env=env, experiment="tumours")

    assert result.returncode == 2, result.stderr[-2000:]
    assert re.search(message, result.stderr), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert client.get_model_version_by_alias("tumours", "champion").version == champion
    assert len(client.search_model_versions("name='tumours'")) == versions
    assert (own_table / "data/02_intermediate/tumours/table.parquet").read_bytes() == accepted


# --- a user's own short texts: repeated under two labels, labels with stray blanks and emoji ---------------

TEXTS_USE = "Routing customer feedback (a test)."
LABELS = {"great": "très bien 👍", "other": "autre"}


@pytest.fixture(scope="module")
def own_texts(tmp_path_factory):
    """300 reviews as a user's feedback table: labels in French with an emoji, 20 texts again under the other
    label, 10 labels with stray blanks; `forgeml init --texts` then `make run`, with a tiny BERT in the test env."""
    from forgeml.data.sources import load_reviews

    project = init_repo(make_project(tmp_path_factory.mktemp("own_texts")), dvc=False)
    table = load_reviews().head(300).rename(columns={"review": "comment", "score": "label"})
    table["label"] = table["label"].map(LABELS)
    great, other = LABELS.values()
    flipped = table.head(20).assign(label=lambda frame: frame["label"].map({great: other, other: great}))
    table = pd.concat([table, flipped], ignore_index=True)
    table.loc[100:109, "label"] = table.loc[100:109, "label"].map(lambda label: f"  {label} ")
    table.to_csv(project / "data/01_raw/feedback.csv", index=False)
    run(project, "forgeml", "init", "feedback", "--texts", "data/01_raw/feedback.csv", "--text-column", "comment",
        "--target", "label", "--intended-use", TEXTS_USE, "--limitations", "Reviews relabelled.")
    # the test env: a tiny random BERT with MiniLM's tokenizer in place of MiniLM, shorter sequences, and no INT8
    # (compiling it takes minutes; test_texts.py quantizes the tiny BERT of the reviews); its student is distilled
    override_conf(project, "test", "parameters.yml", {
        "experiment": {"text": {"max_length": 32}}, "compress": {"methods": {"int8_dynamic": None, "int8_static": None}},
        "train": {"candidates": {"minilm": {"model": {"pretrained": None, "config": TINY_BERT}, "training": {"lr": 1.0e-3}}}}})
    (project / "run.log").write_text(make_run(project, "feedback"))
    return project


def test_init_then_make_run_on_texts_counts_repeats_and_keeps_labels_as_written(own_texts, client_for):
    import yaml

    suite = yaml.safe_load((own_texts / "conf/experiments/feedback/parameters_data.yml").read_text(encoding="utf-8"))
    assert suite["data"]["validation"]["suites"]["feedback"]["labels"] == sorted(LABELS.values())  # blanks stripped
    report = json.loads((own_texts / "data/08_reporting/feedback/validation/data.json").read_text())
    counts = report["duplicates"]
    assert report["success"] and counts["rows"] == 320 and counts["rows_kept"] == 320
    assert counts["conflicting_groups"] >= 20
    tensors = pd.read_parquet(own_texts / "data/05_model_input/feedback/train.parquet")
    assert set(tensors["label"]) == set(LABELS.values())
    client = client_for(own_texts)
    champion = client.get_model_version_by_alias("feedback", "champion")
    assert TEXTS_USE in champion.description and not {"amazon", "breast"} & set(champion.description.lower().split())
    metrics = json.loads((own_texts / "data/08_reporting/feedback/metrics.json").read_text())
    assert set(metrics) == {"tfidf_logreg", "minilm", "distilled_3_layers"}

    import mlflow

    served = mlflow.pyfunc.load_model("models:/feedback@champion")
    predicted = served.predict(pd.DataFrame({"comment": ["Delicious, would buy again.", "Stale and tasteless."]}))
    assert set(np.asarray(predicted).ravel()) <= set(LABELS.values())
