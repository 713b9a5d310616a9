"""Scheduled retraining: one lock, one check for new data, then the ``retrain`` pipeline.

``forgeml retrain`` (cron, a systemd timer) and the Airflow DAG under airflow/ both come through here.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forgeml.errors import ForgeMLError


class RetrainBusy(ForgeMLError):
    """Another retrain of the same experiment holds the lock."""


class RetrainLock:
    """An exclusive lock on a file, per experiment: a second retrain waits (``wait=True``) or stops
    with RetrainBusy, so two retrains never interleave their registrations and alias moves.

    The OS releases the lock when the holder exits, even when it crashes, so a stale lock cannot block.
    It is local to the machine: runs on several machines (PostgreSQL scale-out) need a scheduler that
    runs one at a time (the Airflow DAG has max_active_runs=1).
    """

    def __init__(self, path: Path, wait: bool = False, poll_seconds: float = 1.0):
        self.path, self.wait, self.poll_seconds = path, wait, poll_seconds
        self._file = None

    def __enter__(self) -> RetrainLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a+")
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not self.wait:
                    self._file.seek(0)
                    holder = self._file.read().strip() or "another process"
                    self._file.close()
                    raise RetrainBusy(
                        f"Another retrain holds {self.path} ({holder}); this one stops without touching anything. "
                        "Pass --wait to wait for it instead."
                    ) from None
                time.sleep(self.poll_seconds)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()}, since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
        self._file.flush()
        return self

    def __exit__(self, *exc_info) -> None:
        self._file.truncate(0)
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


@dataclass
class DataCheck:
    experiment: str
    current_hash: str | None
    last_version: str
    last_hash: str | None

    @property
    def changed(self) -> bool:
        return self.current_hash != self.last_hash

    def describe(self) -> str:
        if not self.changed:
            return (f"No new data for {self.experiment}: the raw data's hash {self.current_hash} is the one version "
                    f"{self.last_version}, the last to face the gate, was trained on. Nothing to do.")
        return (f"New or changed data for {self.experiment}: hash {self.current_hash}; version {self.last_version}, "
                f"the last to face the gate, was trained on {self.last_hash}. Retraining the champion's recipe.")


def lock_path(project: Path, experiment: str) -> Path:
    return project / "mlruns" / f"retrain-{experiment}.lock"


def check_for_new_data(context) -> DataCheck:
    """Compare the raw data's hash now (forgeml.data.sources.raw_data_hash) with the ``forgeml.raw_md5`` tag of the
    last version to face the gate (the challenger alias; the champion before any challenger), so that a
    challenger the gate refused is not retrained again on the same data."""
    import mlflow

    from forgeml.errors import ConfigError
    from forgeml.data.sources import raw_data_hash
    from forgeml.hooks import SOURCE_DATASET
    from forgeml.registry.tracking import alias_version

    experiment = context.params["experiment"]
    if alias_version(experiment["name"], "champion") is None:
        raise ConfigError(f"Registered model {experiment['name']!r} has no champion: run `make run` first.")
    version = alias_version(experiment["name"], "challenger") or alias_version(experiment["name"], "champion")
    tags = mlflow.MlflowClient().get_model_version(experiment["name"], version).tags
    return DataCheck(experiment["name"], raw_data_hash(context.catalog[SOURCE_DATASET]), version, tags.get("forgeml.raw_md5"))


def _complete_interrupted_move(project: Path, params: dict[str, Any]) -> None:
    """A release that crashed while moving aliases may have left the challenger (whose data hash the check
    reads) half moved: complete it first, under the registry lock."""
    from forgeml.registry.moves import reconcile, registry_lock

    audit_log = project / params["release"]["audit_log"]
    with registry_lock(audit_log, params["release"]["lock_timeout_s"]):
        reconcile(params["experiment"]["name"], audit_log)


def retrain(project: Path, experiment: str, env: str, wait: bool = False, echo=print) -> dict[str, Any] | None:
    """Under the experiment's lock: retrain when the raw data changed, and return the gate's decision;
    None when there was nothing to do."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from forgeml.experiments import experiment_selected

    bootstrap_project(project)
    with experiment_selected(experiment), KedroSession.create(project_path=project, env=env) as session:
        context = session.load_context()
        with RetrainLock(lock_path(project, experiment), wait=wait):
            _complete_interrupted_move(project, context.params)
            check = check_for_new_data(context)
            echo(check.describe())
            if not check.changed:
                return None
            session.run(pipeline_names=["retrain"])
            return context.catalog.load("retrain_promotion")
