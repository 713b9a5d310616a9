"""One MLflow run per study, one nested run per trial, through explicit run ids.

Optuna's own MLflowCallback relies on the active run of the process that runs the trial, so trials
run by a second worker process (or machine) end up orphaned or under the wrong parent. Here every
worker reads the study run's id from the study itself and creates its trial runs with that parent.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

STUDY_RUN_ATTR = "mlflow_run_id"
TRIAL_RUN_ATTR = "mlflow_run_id"


def ensure_study_run(study, created: bool, tracking_uri: str, experiment: str, parent_run_id: str | None,
                     tags: dict[str, str], wait_s: float = 60.0) -> str:
    """The study's MLflow run, created (under ``parent_run_id``, the pipeline's run) by the process that
    ``created`` the study; a process that joined it waits up to ``wait_s`` for that run, so trials from
    every machine nest under one run. It creates the run itself only when the creator never did (died)."""
    import logging
    import time

    import mlflow

    deadline = time.monotonic() + (0.0 if created else wait_s)
    while not (existing := study.user_attrs.get(STUDY_RUN_ATTR)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if existing:
        return existing
    if not created:
        logging.getLogger(__name__).warning("Study %s has no MLflow run after %.0f s: its creator stopped; creating it here.",
                                            study.study_name, wait_s)
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run_tags = {**tags, "forgeml.study": study.study_name}
    if parent_run_id:
        run_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, run_name=f"study {study.study_name}", tags=run_tags)
    study.set_user_attr(STUDY_RUN_ATTR, run.info.run_id)
    return run.info.run_id


class TrialRun:
    """A trial's MLflow run. Each store write costs about 15 ms on SQLite, as much as an MLP epoch, so the
    epoch metrics are kept here and written in one batch every ``flush_s`` seconds (live curves for long
    trials) and when the trial ends, together with its state and final values (benchmarks/tuning.py logging).
    A worker killed mid-trial loses at most ``flush_s`` seconds of curve; its run is marked killed."""

    def __init__(self, client, run_id: str, flush_s: float = 10.0):
        self.client, self.run_id, self.flush_s = client, run_id, flush_s
        self.pending: list = []
        self.flushed_at = time.monotonic()

    @classmethod
    def start(cls, tracking_uri: str, study_run_id: str, trial, overrides: dict[str, dict[str, Any]]) -> "TrialRun":
        import mlflow
        from mlflow.entities import Param

        client = mlflow.MlflowClient(tracking_uri)
        parent = client.get_run(study_run_id)
        run = client.create_run(
            parent.info.experiment_id, run_name=f"trial {trial.number}",
            tags={"mlflow.parentRunId": study_run_id, "forgeml.study": trial.study.study_name,
                  "forgeml.trial": str(trial.number), "forgeml.worker": f"{socket.gethostname()}:{os.getpid()}",  # one study, many workers
                  **{k: v for k, v in parent.data.tags.items() if k.startswith("forgeml.git")}},
        )
        trial.set_user_attr(TRIAL_RUN_ATTR, run.info.run_id)
        params = {f"{section}.{key}": str(value) for section, values in overrides.items() for key, value in values.items()}
        if params:
            client.log_batch(run.info.run_id, params=[Param(k, v[:6000]) for k, v in params.items()])
        return cls(client, run.info.run_id)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        self.pending += [Metric(k, float(v), now, epoch) for k, v in metrics.items()]
        if time.monotonic() - self.flushed_at >= self.flush_s:
            self._write()

    def finish(self, state: str, values: dict[str, float], seconds: float) -> None:
        from mlflow.entities import Metric, RunTag
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        self.pending += [Metric(k, float(v), now, 0) for k, v in {"trial_seconds": seconds, **values}.items()]
        self._write([RunTag("forgeml.trial_state", state)])
        self.client.set_terminated(self.run_id, "FAILED" if state == "FAIL" else "FINISHED")

    def _write(self, tags: list | None = None) -> None:
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        tags = tags or []
        size = MAX_METRICS_PER_BATCH - len(tags)  # the store's limit counts metrics and tags together
        for begin in range(0, len(self.pending), size):
            self.client.log_batch(self.run_id, metrics=self.pending[begin : begin + size], tags=tags)
        self.pending, self.flushed_at = [], time.monotonic()


def end_stale_trial_run(study, trial) -> None:
    """Optuna found ``trial`` abandoned (its process died): mark its MLflow run killed too."""
    import mlflow

    run_id = trial.user_attrs.get(TRIAL_RUN_ATTR)
    if run_id:
        client = mlflow.MlflowClient()
        client.set_tag(run_id, "forgeml.trial_state", "FAIL (worker died)")
        client.set_terminated(run_id, "KILLED")
