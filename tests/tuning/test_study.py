"""Studies on the breast-cancer split with real SQLite storage and a real MLflow store in a temp folder."""

import sqlite3

import pytest

from forgeml.data import load_bundled
from forgeml.errors import ConfigError
from forgeml.modality import TableModality, modality_of
from forgeml.training import TrainingData
from forgeml.tuning import TuneSettings, tune_candidate

BASE = {"model": {"family": "mlp", "hidden": [16], "batch_norm": False},
        "training": {"epochs": 12, "batch_size": 32, "lr": 0.003, "patience": 5, "device": "cpu"}}
SPACE = {
    "training.lr": {"low": 1.0e-3, "high": 3.0e-2, "log": True},
    "model.hidden": {"length": {"low": 1, "high": 3}, "item": {"low": 8, "high": 512, "log": True}},
}


@pytest.fixture(scope="module")
def splits():
    train, val, _ = TableModality({"name": "breast_cancer", "target": "target"}).split(load_bundled("breast_cancer"), 0.2, 0.15, seed=42)
    return train, val


@pytest.fixture
def stores(tmp_path):
    import mlflow

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking)
    experiment = client.create_experiment("bc")
    parent = client.create_run(experiment, run_name="tune").info.run_id
    return {"storage": f"sqlite:///{tmp_path / 'optuna.db'}", "tracking": tracking, "parent": parent, "client": client}


def tune(splits, stores, base=BASE, **settings):
    options = {"candidate": "mlp", "n_trials": 6, "space": SPACE, "storage": stores["storage"], "progress": False, **settings}
    train, val = splits
    modality = modality_of({"name": "bc", "target": "target", "modality": "table"})
    data = TrainingData(modality, train, val, modality.tensors({"train": train, "val": val}))
    return tune_candidate(TuneSettings(**options), "bc", base, data, 0, stores["tracking"], stores["parent"])


def runs_by_parent(client, experiment_name="bc"):
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    return runs, {r.info.run_id: r.data.tags.get("mlflow.parentRunId") for r in runs}


def test_two_workers_share_one_study_and_every_trial_is_a_nested_run(splits, stores):
    import optuna

    best, pages = tune(splits, stores, workers=2, n_trials=8)
    study = optuna.load_study(study_name=best["study"], storage=stores["storage"])
    counted = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 8 == best["trials"]["complete"] + best["trials"]["pruned"]
    runs, parents = runs_by_parent(stores["client"])
    study_run = study.user_attrs["mlflow_run_id"]
    assert parents[study_run] == stores["parent"]
    trial_runs = {r.data.tags["forgeml.trial"]: r for r in runs if parents[r.info.run_id] == study_run}
    assert {str(t.number) for t in counted} <= set(trial_runs)
    assert all(r.info.status in ("FINISHED", "FAILED") for r in trial_runs.values())
    complete = next(t for t in counted if t.state.name == "COMPLETE")
    history = stores["client"].get_metric_history(trial_runs[str(complete.number)].info.run_id, "val_loss")
    assert len(history) >= 1 and trial_runs[str(complete.number)].data.tags["forgeml.trial_state"] == "COMPLETE"
    assert {"optimization_history.html", "parallel_coordinate.html", "param_importances.html"} <= set(pages)
    assert all("plotly" in html and "<html" in html for html in pages.values())
    assert best["overrides"]["training"]["lr"] == study.best_trial.params["training.lr"]
    # the workers read and write the SQLite study through its write-ahead log, not by locking the file
    with sqlite3.connect(stores["storage"].removeprefix("sqlite:///")) as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_second_run_resumes_the_study_instead_of_starting_over(splits, stores):
    first, _ = tune(splits, stores, n_trials=3)
    second, _ = tune(splits, stores, n_trials=5)
    assert first["study"] == second["study"]
    assert second["trials"]["complete"] + second["trials"]["pruned"] == 5


def test_multi_objective_study_picks_the_best_trial_within_the_size_budget(splits, stores):
    # Size follows from the drawn widths, so this front does not move with the machine's timing noise.
    best, pages = tune(splits, stores, n_trials=16, objectives=["val_loss", "size_bytes"],
                       constraints={"size_bytes": 1.0e12}, sampler="random")
    assert len(best["pareto_front"]) >= 3
    assert "pareto_front.html" in pages
    budget = sorted(p["values"]["size_bytes"] for p in best["pareto_front"])[1]  # excludes the front's smallest
    within, _ = tune(splits, stores, n_trials=16, objectives=["val_loss", "size_bytes"],
                     constraints={"size_bytes": budget}, sampler="random")
    assert within["feasible"] and within["values"]["size_bytes"] <= budget
    feasible = [p for p in within["pareto_front"] if p["values"]["size_bytes"] <= budget]
    assert within["values"]["val_loss"] == min(p["values"]["val_loss"] for p in feasible)


def test_latency_is_measured_and_no_trial_on_the_front_is_dominated(splits, stores):
    best, _ = tune(splits, stores, n_trials=6, objectives=["val_loss", "latency_ms"], sampler="random")
    front = [(p["values"]["val_loss"], p["values"]["latency_ms"]) for p in best["pareto_front"]]
    assert front and all(latency > 0 for _, latency in front)
    assert not any(a != b and a[0] <= b[0] and a[1] <= b[1] for a in front for b in front)


@pytest.mark.parametrize(("sampler", "pruner"), [("cmaes", "hyperband"), ("random", "none")])
def test_every_sampler_and_pruner_runs(splits, stores, sampler, pruner):
    best, _ = tune(splits, stores, n_trials=3, sampler=sampler, pruner=pruner,
                   space={"training.lr": {"low": 1.0e-3, "high": 3.0e-2, "log": True}})
    assert best["trials"]["complete"] + best["trials"]["pruned"] == 3


@pytest.mark.parametrize(("options", "message"), [
    ({"sampler": "grid"}, "tune.sampler must be one of tpe, random, cmaes"),
    ({"pruner": "asha"}, "tune.pruner"),
    ({"objectives": ["latency_ms"]}, "must start with one of val_loss, val_accuracy"),
    ({"objectives": ["val_loss", "f1"]}, "may only be latency_ms, size_bytes"),
    ({"constraints": {"latency_ms": 1.0}}, "constraints may only bound"),
    ({"n_trials": 0}, "at least 1"),
    ({"heartbeat_grace_s": 5}, "must exceed the 10 s between heartbeats"),
])
def test_bad_settings_are_explained(options, message):
    with pytest.raises(ConfigError, match=message):
        TuneSettings(**{"candidate": "mlp", "n_trials": 4, "space": SPACE, **options})


def test_a_bad_space_fails_before_the_first_trial(splits, stores):
    import optuna

    with pytest.raises(ConfigError, match="no model option 'depth'"):
        tune(splits, stores, space={"model.depth": {"low": 1, "high": 4}})
    assert optuna.get_all_study_names(stores["storage"]) == []


def test_a_bad_training_setting_of_the_candidate_fails_before_the_study_starts(splits, stores):
    import optuna

    with pytest.raises(ConfigError, match="Candidate 'mlp': Unknown scheduler 'step'"):
        tune(splits, stores, base={**BASE, "training": {**BASE["training"], "scheduler": "step"}})
    assert optuna.get_all_study_names(stores["storage"]) == []


def test_a_diverging_trial_is_pruned_and_the_study_goes_on(splits, stores):
    import optuna

    space = {"training.lr": {"choices": [0.003, 1.0e12]}, "training.optimizer": {"choices": ["sgd"]}}
    best, _ = tune(splits, stores, space=space, n_trials=6, sampler="random", pruner="none")
    trials = optuna.load_study(study_name=best["study"], storage=stores["storage"]).trials
    diverged = [t for t in trials if "diverged" in t.user_attrs]
    assert diverged and all(t.state.name == "PRUNED" and "not finite" in t.user_attrs["diverged"] for t in diverged)
    assert best["overrides"]["training"]["lr"] == 0.003 and best["trials"]["complete"] + best["trials"]["pruned"] == 6


def test_of_two_machines_starting_one_study_only_the_creator_makes_its_run_and_the_other_joins_it(stores):
    import threading

    from forgeml.tuning.study import create_or_join_study
    from forgeml.tuning.trial_runs import ensure_study_run

    settings = TuneSettings(candidate="mlp", n_trials=2, space=SPACE, storage=stores["storage"], progress=False)
    creator, created = create_or_join_study("shared", settings, 1)
    joiner, joined_created = create_or_join_study("shared", settings, 1)
    assert created and not joined_created
    joined = {}
    waiting = threading.Thread(target=lambda: joined.update(run=ensure_study_run(
        joiner, False, stores["tracking"], "bc", stores["parent"], {}, wait_s=30)))
    waiting.start()  # it waits for the creator's run rather than making a second one
    run_id = ensure_study_run(creator, True, stores["tracking"], "bc", stores["parent"], {})
    waiting.join()
    assert joined["run"] == run_id
    runs, _ = runs_by_parent(stores["client"])
    assert [r.info.run_name for r in runs].count("study shared") == 1


def test_a_study_whose_creator_died_before_making_its_run_gets_one_from_the_next_worker(stores, caplog):
    from forgeml.tuning.study import create_or_join_study
    from forgeml.tuning.trial_runs import STUDY_RUN_ATTR, ensure_study_run

    settings = TuneSettings(candidate="mlp", n_trials=2, space=SPACE, storage=stores["storage"], progress=False)
    create_or_join_study("orphan", settings, 1)  # created, then its process is gone
    study, created = create_or_join_study("orphan", settings, 1)
    run_id = ensure_study_run(study, created, stores["tracking"], "bc", stores["parent"], {}, wait_s=0.5)
    assert study.user_attrs[STUDY_RUN_ATTR] == run_id
    assert "its creator stopped" in caplog.text


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_after_the_grace(stores):
    from forgeml.tuning.study import fail_dead_trials, open_study
    from forgeml.tuning.trial_runs import TRIAL_RUN_ATTR

    settings = TuneSettings(candidate="mlp", n_trials=2, space=SPACE, storage=stores["storage"], progress=False)
    study = open_study("bc-dead-worker", settings, 12)
    dead = study.ask()  # RUNNING with no heartbeat and no MLflow run: what a worker killed at once leaves
    alive = study.ask()
    alive.set_user_attr(TRIAL_RUN_ATTR, "its-run")  # reached its objective: its heartbeat thread runs

    fail_dead_trials(study, grace_s=60)
    assert [t.state.name for t in study.trials] == ["RUNNING", "RUNNING"]
    fail_dead_trials(study, grace_s=0)
    assert {t.number: t.state.name for t in study.trials} == {dead.number: "FAIL", alive.number: "RUNNING"}


@pytest.mark.parametrize(("pgcode", "joined"), [("42P07", True), ("42710", True), ("42601", False)],
                         ids=["duplicate-table", "duplicate-type", "syntax"])
def test_a_schema_another_machine_created_at_the_same_moment_is_joined(tmp_path, monkeypatch, pgcode, joined):
    """Two clones tuning against a new PostgreSQL database race to create Optuna's tables and enum types; the loser
    sees a table (42P07) or a type (42710: `type "studydirection" already exists`, seen in CI) already there and
    joins. The race is injected: the first connection fails as PostgreSQL's would."""
    import optuna
    import sqlalchemy.exc

    from forgeml.tuning import study as study_module

    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise sqlalchemy.exc.ProgrammingError("CREATE TABLE studies", {}, type("PgError", (Exception,), {"pgcode": pgcode})())
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    if joined:
        assert study_module._storage(url, 60).get_all_studies() == [] and len(calls) == 2
    else:
        with pytest.raises(sqlalchemy.exc.ProgrammingError):
            study_module._storage(url, 60)
        assert len(calls) == 1
