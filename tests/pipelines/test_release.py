"""The release gate on a real MLflow registry: the release nodes called directly on scikit-learn models
whose test errors are set exactly, so each rule of the gate is hit on purpose; then promotion and
rollback by hand through the `forgeml` command, the audit log, and the model cards."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from forgeml.data.duplicates import resolve_duplicates
from forgeml.modality import TableModality
from forgeml.pipelines.evaluate.nodes import evaluate_candidates
from forgeml.pipelines.release.nodes import choose_run_challenger, promote_challenger, register_candidates
from forgeml.registry.audit import read_records, verify
from tests.pipelines.conftest import REPO, run

MODEL = "gate_demo"
TARGET = "target"
EVALUATE = {"seed": 0, "latency_batch_sizes": [1], "latency_repeats": 3, "latency_threads": 1,
            "robustness": {"seed": 0, "levels": {"noise": [0.1]}}}
RELEASE = {"primary_metric": "accuracy", "min_improvement": 0.005, "significance": 0.05,
           "choice": "cheapest_within_noise", "cost": "latency_b1", "cost_tolerance": 0.1,
           "constraints": {"max_latency_ms": None, "max_size_bytes": None, "min_robustness": None, "max_ratio_to_base": 1.1},
           "model_card": {"intended_use": "Testing the gate.", "limitations": "Made-up errors."}, "lock_timeout_s": 60}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(MODEL)
    yield root, uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def data(breast_cancer):
    from sklearn.model_selection import train_test_split

    return train_test_split(breast_cancer, test_size=0.2, random_state=0, stratify=breast_cancer[TARGET])


@pytest.fixture(scope="module")
def models(data):
    """A fitted logistic regression, and copies of it that get exactly k more test rows wrong: the k
    correctly classified positives closest to the boundary, so each copy's errors contain the last's."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = data
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
        train.drop(columns=[TARGET]).to_numpy(np.float32), train[TARGET].to_numpy())
    margins = base.decision_function(test.drop(columns=[TARGET]).to_numpy(np.float32))
    closest = np.sort(margins[(test[TARGET].to_numpy() == 1) & (margins > 0)])

    def worse_by(k: int):
        model = copy.deepcopy(base)
        model[-1].intercept_ = model[-1].intercept_ - (closest[k - 1] + closest[k]) / 2
        return model

    return {"base": base, **{f"worse_by_{k}": worse_by(k) for k in (3, 6, 8, 10)}}


@pytest.fixture(scope="module")
def ensemble(models, data):
    """A bagged ensemble of 60 logistic regressions, each fitted on every training row and feature, so it
    predicts as ``base`` at 60 times base's cost (latency and size): an expensive model, for the release's choice."""
    from sklearn.ensemble import BaggingClassifier

    train, test = data
    features = test.drop(columns=[TARGET]).to_numpy(np.float32)
    model = BaggingClassifier(models["base"], n_estimators=60, bootstrap=False, random_state=0).fit(
        train.drop(columns=[TARGET]).to_numpy(np.float32), train[TARGET].to_numpy())
    assert (model.predict(features) == models["base"].predict(features)).all()
    return model


def registered(names, models, data, registry, model_name=MODEL, **overrides):
    """Candidates ``names`` evaluated, chosen among and registered, as the release stage does; what its gate takes."""
    train, test = data
    experiment = {"name": model_name, "target": TARGET}
    candidates = {name: models[name] for name in ([names] if isinstance(names, str) else names)}
    evaluation, predictions, _, confusion_matrices, robustness_curves, _ = evaluate_candidates(
        candidates, {}, {}, test, experiment, EVALUATE)
    infos = {name: {"family": "sklearn_logreg", "model": {"family": "sklearn_logreg"}} for name in candidates}
    params = {**RELEASE, "audit_log": str(audit_log(registry)), **overrides}
    choice = choose_run_challenger(evaluation, predictions, {}, test, {"success": True}, experiment, params,
                                   EVALUATE["latency_batch_sizes"])
    _, counts = resolve_duplicates(train, TableModality(experiment).input_keys(train), TARGET, {})
    registrations = register_candidates(candidates, {}, infos, {}, {}, evaluation, choice, confusion_matrices,
                                        robustness_curves, train, test, {"duplicates": counts}, experiment, params)
    return registrations, choice, test, experiment, params


def release(names, models, data, registry, **overrides):
    """One release of candidates ``names``: evaluate, choose, register and gate."""
    return promote_challenger(*registered(names, models, data, registry, **overrides))


def audit_log(registry):
    return registry[0] / "audit.jsonl"


def champion_version() -> str:
    import mlflow

    return str(mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion").version)


@pytest.fixture(scope="module")
def history(models, data, registry):
    """Five releases in a row, each hitting one rule; every later test reads what they left."""
    steps = {
        "first": release("worse_by_8", models, data, registry),
        "not significant": release("worse_by_6", models, data, registry),
        "worse": release("worse_by_10", models, data, registry),
        "too big": release("base", models, data, registry, constraints={"max_size_bytes": 100}),
        "better": release("base", models, data, registry),
    }
    return steps


def test_first_challenger_becomes_champion(history):
    assert history["first"]["promoted"] and history["first"]["rule"] == "first champion"


def test_a_higher_accuracy_the_significance_test_rejects_is_registered_not_promoted(history, registry):
    step = history["not significant"]
    assert step["challenger"]["score"] - step["champion_before"]["score"] == pytest.approx(2 / 114)  # above the margin
    assert not step["promoted"] and step["rule"] == "significance"
    assert step["p_value"] == pytest.approx(0.25)  # McNemar: 2 rows for the challenger, none against
    assert step["champion_after"] == history["first"]["challenger"]["version"]
    assert step["challenger"]["version"] != step["champion_after"]  # registered all the same


def test_a_worse_challenger_and_one_breaking_a_constraint_are_registered_not_promoted(history, registry):
    assert not history["worse"]["promoted"] and history["worse"]["rule"] == "min_improvement"
    assert not history["too big"]["promoted"] and history["too big"]["rule"] == "constraints"
    assert "max_size_bytes 100" in history["too big"]["reason"]
    gates = [r for r in read_records(audit_log(registry)) if r["event"] == "gate"]
    assert [g["rule"] for g in gates] == ["first champion", "significance", "min_improvement", "constraints", "gate passed"]
    assert all(g["by"] and g["at"] and g["reason"] for g in gates)


def test_a_significantly_better_challenger_is_promoted_with_who_when_why_on_its_tags(history, registry):
    import mlflow

    step = history["better"]
    assert step["promoted"] and step["rule"] == "gate passed" and step["p_value"] < 0.05
    assert champion_version() == step["challenger"]["version"]
    tags = mlflow.MlflowClient().get_model_version(MODEL, champion_version()).tags
    assert tags["forgeml.champion.previous"] == history["first"]["challenger"]["version"]
    assert tags["forgeml.champion.rule"] == "gate passed" and "McNemar" in tags["forgeml.champion.reason"]


def test_every_version_has_a_model_card_as_description_and_artifact(history):
    import mlflow

    client = mlflow.MlflowClient()
    version = client.get_model_version(MODEL, history["better"]["challenger"]["version"])
    for heading in ("## Intended use", "Testing the gate.", "## Limitations", "## Data", "## Metrics on the test split",
                    "## Robustness", "## Compression", "## Parameters", "## Lineage", "candidate run"):
        assert heading in version.description
    assert mlflow.artifacts.load_text(f"runs:/{version.run_id}/model_card.md") == version.description
    assert "| accuracy |" in version.description
    assert "| exact duplicate rows (same input, same label) | 0 |" in version.description
    assert "| rows kept | 455 |" in version.description  # every training row: the default policy keeps them all
    assert "Eligible: it breaks no release constraint." in version.description
    assert "**Chosen** as this run's challenger" in version.description
    assert version.tags["forgeml.eligible"] == "true"


def card(version: str, model_name: str) -> str:
    import mlflow

    return mlflow.MlflowClient().get_model_version(model_name, version).description


def test_a_cheap_model_within_noise_of_an_expensive_one_is_chosen_and_promotion_and_cards_say_why(models, ensemble, data,
                                                                                                   registry):
    """The ensemble predicts as base; the cheap model gets 3 more test rows wrong (McNemar's p = 1/8)."""
    log = registry[0] / "choice_audit.jsonl"
    step = release(["ensemble", "worse_by_3"], {**models, "ensemble": ensemble}, data, registry, model_name="choice_demo",
                   audit_log=str(log))
    choice = step["choice"]
    assert step["challenger"]["candidate"] == "worse_by_3" and choice["best"] == "ensemble"
    assert step["promoted"] and step["rule"] == "first champion"  # the first champion is chosen the same way
    assert choice["within_noise"] == ["ensemble", "worse_by_3"]
    costs = {name: entry["cost"] for name, entry in choice["candidates"].items()}
    assert costs["ensemble"] > 10 * costs["worse_by_3"]
    assert choice["candidates"]["worse_by_3"]["p_best_better"] == pytest.approx(1 / 8)
    assert "worse_by_3" in choice["reason"] and "cheapest of the 2 candidates within noise" in choice["reason"]
    chosen, expensive = (card(step["registered"][name]["version"], "choice_demo") for name in ("worse_by_3", "ensemble"))
    assert "**Chosen** as this run's challenger" in chosen and choice["reason"] in chosen
    assert "Not chosen: `worse_by_3` challenges" in expensive and "latency_b1_p50_ms" in expensive
    gate = next(r for r in read_records(log) if r["event"] == "gate")
    assert gate["choice"] == choice["reason"] and gate["within_noise"] == choice["within_noise"]


def test_an_expensive_model_significantly_better_than_the_cheap_one_is_chosen(models, ensemble, data, registry):
    """The cheap model gets 10 more test rows wrong than the ensemble (its shifted boundary also gets 2 right that the
    ensemble gets wrong: McNemar's p = 79/4096)."""
    step = release(["ensemble", "worse_by_10"], {**models, "ensemble": ensemble}, data, registry,
                   model_name="choice_demo_2", audit_log=str(registry[0] / "choice_2_audit.jsonl"))
    assert step["challenger"]["candidate"] == "ensemble" and step["choice"]["within_noise"] == ["ensemble"]
    assert step["choice"]["candidates"]["worse_by_10"]["p_best_better"] < RELEASE["significance"]
    assert "significantly better than every other eligible candidate" in step["choice"]["reason"]


def forgeml(registry, *args, check=True):
    root, uri = registry
    return run(REPO, "forgeml", *args, "--model", MODEL, "--tracking-uri", uri, "--audit-log", str(root / "audit.jsonl"),
               check=check)


def test_rollback_restores_the_previous_champion_and_the_log_shows_both_moves(history, registry):
    promoted, previous = history["better"]["challenger"]["version"], history["first"]["challenger"]["version"]
    assert champion_version() == promoted
    result = forgeml(registry, "rollback", "--reason", "complaints from the field", "--by", "release owner")
    assert f"{promoted} -> {previous}" in result.stdout
    assert champion_version() == previous
    moves = [r for r in read_records(audit_log(registry))
             if r["event"] == "alias moved" and r["alias"] == "champion"]
    assert [(m["previous"], m["version"], m["rule"]) for m in moves[-2:]] == [(previous, promoted, "gate passed"),
                                                                            (promoted, previous, "rollback")]
    assert moves[-1]["by"] == "release owner" and moves[-1]["reason"] == "complaints from the field"
    forgeml(registry, "promote", "--version", promoted, "--reason", "fixed upstream")  # and forward again by hand
    assert champion_version() == promoted
    assert read_records(audit_log(registry))[-1]["rule"] == "manual"


def test_promoting_a_version_that_does_not_exist_fails_and_moves_nothing(history, registry):
    before = champion_version()
    lines = len(read_records(audit_log(registry)))
    result = forgeml(registry, "promote", "--version", "99", "--reason", "typo", check=False)
    assert result.returncode == 2
    assert f"Registered model '{MODEL}' has no version 99; its versions: 1, 2, 3, 4, 5" in result.stderr
    assert champion_version() == before
    assert len(read_records(audit_log(registry))) == lines


def test_every_audit_record_reaches_its_version_in_mlflow_and_the_log_verifies(history, registry):
    import json

    import mlflow

    from forgeml.registry.moves import AUDIT_TAG, PENDING_MOVE

    client = mlflow.MlflowClient()
    version = history["better"]["challenger"]["version"]
    records = [r for r in read_records(audit_log(registry)) if r.get("version") == version and r["event"] != "release stopped"]
    assert {r["event"] for r in records} >= {"gate", "alias moved"}
    tags = client.get_model_version(MODEL, version).tags
    for record in records:  # the UI shows the record the log holds, hash and all
        assert json.loads(tags[f"{AUDIT_TAG}{record['hash'][:16]}"]) == record
    assert PENDING_MOVE not in client.get_registered_model(MODEL).tags  # every move was completed
    assert verify(audit_log(registry)) == []


def test_a_store_locked_by_another_connection_stops_the_release_and_the_log_says_why(history, models, data, registry):
    import sqlite3

    from forgeml.errors import RegistryError

    gate_inputs = registered("worse_by_6", models, data, registry)
    before = champion_version()
    holder = sqlite3.connect(registry[0] / "mlflow.db")
    holder.execute("BEGIN EXCLUSIVE")  # another connection holds the store: reads and writes fail
    try:
        with pytest.raises(RegistryError, match="registry failed during the release.*no alias was moved"):
            promote_challenger(*gate_inputs)
    finally:
        holder.rollback()
        holder.close()
    assert champion_version() == before
    stopped = read_records(audit_log(registry))[-1]
    assert stopped["event"] == "release stopped" and "locked" in stopped["reason"]
    assert stopped["outcome"] == "no alias was moved"
    assert verify(audit_log(registry)) == []
