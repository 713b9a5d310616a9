"""Experiments layered independently of environments: conf/base -> conf/experiments/NAME -> conf/<env>."""

from __future__ import annotations

import shutil

import pytest
import yaml

from forgeml.errors import ConfigError
from forgeml.experiments import experiment_names
from forgeml.registry.model_card import model_card
from tests.helpers import loader
from tests.pipelines.conftest import REPO


@pytest.fixture
def conf(tmp_path):
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    return tmp_path / "conf"


@pytest.mark.parametrize("experiment", ["breast_cancer", "digits", "reviews"])
@pytest.mark.parametrize("env", ["local", "test", "postgres"])
def test_every_experiment_composes_with_every_environment(conf, monkeypatch, experiment, env):
    config = loader(conf, env, monkeypatch, experiment)
    params, catalog = config["parameters"], config["catalog"]
    assert params["experiment"]["name"] == experiment
    assert catalog["train"]["filepath"] == f"data/05_model_input/{experiment}/train.parquet"
    assert params["train"]["candidates"] and catalog["source"]["type"].startswith("forgeml.datasets.")
    assert params["train"]["defaults"]["progress"] is (env != "test")  # the env's own key, over the experiment's
    assert params["tune"]["storage"].startswith("postgresql" if env == "postgres" else "sqlite")
    assert config["mlflow"]["tracking"]["experiment"]["name"] == experiment


def test_the_experiment_overrides_base_and_the_env_overrides_the_experiment(conf, monkeypatch):
    test_env = yaml.safe_load((conf / "test/parameters.yml").read_text())
    test_env["train"]["candidates"] = {"resnet": {"training": {"epochs": 3}}}
    (conf / "test/parameters.yml").write_text(yaml.safe_dump(test_env))
    params = loader(conf, "test", monkeypatch, "digits")["parameters"]
    resnet = params["train"]["candidates"]["resnet"]
    assert resnet["training"] == {"epochs": 3, "batch_size": 64, "lr": 0.003, "patience": 12}  # one key changed
    assert resnet["model"]["family"] == "resnet" and params["train"]["defaults"]["epochs"] == 150  # base kept


def test_a_new_experiment_that_states_no_card_text_gets_not_stated(conf, monkeypatch):
    (conf / "experiments/my_table").mkdir()
    (conf / "experiments/my_table/catalog.yml").write_text("source:\n  type: pandas.CSVDataset\n  filepath: x.csv\n")
    params = loader(conf, "local", monkeypatch, "my_table")["parameters"]
    assert params["release"]["model_card"] == {"intended_use": "Not stated.", "limitations": "Not stated."}
    card = model_card("my_table", "1", "mlp", {"family": "mlp"}, {"accuracy": 0.9}, {}, "run", None,
                      **params["release"]["model_card"])
    assert "## Intended use\n\nNot stated." in card and "tumour" not in card and "breast" not in card
    assert params["train"]["candidates"] == {} and params["compress"]["methods"] == {}  # nothing of breast cancer's
    assert params["data"]["validation"]["suites"] == {}
    assert "my_table" in experiment_names(conf)


def test_an_unknown_experiment_names_the_ones_there_are(conf, monkeypatch):
    with pytest.raises(ConfigError, match="No experiment 'nope'.*Experiments: breast_cancer, digits, reviews"):
        loader(conf, "local", monkeypatch, "nope")


def test_an_experiment_name_that_leaves_its_folder_is_refused(conf, monkeypatch):
    assert (conf / "experiments/../base").is_dir()  # a folder is there: only the name check stops it
    with pytest.raises(ConfigError, match="FORGEML_EXPERIMENT is '../base', which is not an experiment name"):
        loader(conf, "local", monkeypatch, "../base")


def test_a_password_in_a_parameter_is_refused_naming_the_key_not_the_password(conf, monkeypatch):
    (conf / "postgres/parameters_tune.yml").write_text(
        "tune:\n  storage: postgresql+psycopg2://optuna:s3cret@db.example:5432/forgeml_optuna\n")
    with pytest.raises(ConfigError, match="Parameter tune.storage holds a password.*PGPASSWORD") as refused:
        loader(conf, "postgres", monkeypatch, "breast_cancer")["parameters"]
    assert "s3cret" not in str(refused.value)
    assert loader(conf, "local", monkeypatch, "breast_cancer")["parameters"]["tune"]["storage"]  # a URL without one is fine


@pytest.mark.parametrize(("written", "named"), [
    ("tune:\n  notes: [ok, 'see postgresql://optuna:s3cret@db.example/optuna']\n", "Parameter tune.notes[1] holds a password"),
    ("tune:\n  note: 'copied from https://bot:s3cret@git.example/repo today'\n", "Parameter tune.note holds a password"),
    ("tune:\n  api_token: s3cret\n", "Parameter tune.api_token is named like a credential"),
    ("release:\n  registry: {password: s3cret}\n", "Parameter release.registry.password is named like a credential"),
], ids=["url-in-a-list", "url-in-a-sentence", "token-key", "password-key"])
def test_a_credential_anywhere_in_the_parameters_is_refused_naming_its_key(conf, monkeypatch, written, named):
    (conf / "postgres/parameters_extra.yml").write_text(written)
    with pytest.raises(ConfigError, match=named.replace("[", "\\[").replace("]", "\\]")) as refused:
        loader(conf, "postgres", monkeypatch, "breast_cancer")["parameters"]
    assert "s3cret" not in str(refused.value)
