"""A trial's MLflow run on a real SQLite store: epoch metrics written in batches, nothing lost at the end."""

import pytest

from forgeml.tuning.trial_runs import TrialRun


@pytest.fixture
def trial_run(tmp_path):
    import mlflow
    import optuna

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking)
    study_run = client.create_run(client.create_experiment("bc"), run_name="study").info.run_id
    trial = optuna.create_study(study_name="bc-mlp").ask()

    def start(flush_s: float) -> TrialRun:
        run = TrialRun.start(tracking, study_run, trial, {"training": {"lr": 0.01}})
        run.flush_s = flush_s
        return run

    return start, client


def epochs(client, run_id: str, key: str = "val_loss") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_epochs_wait_for_the_batch_and_every_one_reaches_the_store_when_the_trial_ends(trial_run):
    start, client = trial_run
    run = start(flush_s=3600)
    for epoch in range(300):  # 1,200 metrics: more than the store takes in one batch
        run.log_epoch(epoch, {"train_loss": 1.0, "val_loss": 1 / (epoch + 1), "val_accuracy": 0.5, "lr": 0.01})
    assert epochs(client, run.run_id) == []  # buffered: no store write per epoch
    run.finish("PRUNED", {}, 2.5)
    stored = client.get_run(run.run_id)
    assert epochs(client, run.run_id) == list(range(300)) == epochs(client, run.run_id, "lr")
    assert stored.data.tags["forgeml.trial_state"] == "PRUNED" and stored.info.status == "FINISHED"
    assert stored.data.metrics["trial_seconds"] == 2.5 and stored.data.params["training.lr"] == "0.01"


def test_a_long_trial_shows_its_curve_while_it_runs(trial_run):
    start, client = trial_run
    run = start(flush_s=0)
    run.log_epoch(0, {"val_loss": 0.7})
    run.log_epoch(1, {"val_loss": 0.6})
    assert epochs(client, run.run_id) == [0, 1]
    run.finish("FAIL", {}, 1.0)
    assert client.get_run(run.run_id).info.status == "FAILED"
