"""Scheduled retraining: one lock, one check for new (or drifted) data, then the ``retrain`` pipeline.

``forgeml retrain`` (cron, a systemd timer) and the Airflow DAG under airflow/ both come through here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeml.errors import ForgeMLError
from forgeml.locks import exclusive_lock


class RetrainBusy(ForgeMLError):
    """Another retrain of the same experiment holds the lock."""


def retrain_lock(path: Path, wait: bool = False, poll_s: float = 1.0) -> AbstractContextManager[None]:
    """The experiment's retrain lock (forgeml.locks): a second retrain waits (``wait``) or stops with
    RetrainBusy, so two retrains never interleave their registrations and alias moves."""

    def busy(holder: str) -> RetrainBusy:
        return RetrainBusy(f"Another retrain holds {path} ({holder}); this one stops without touching anything. "
                           "Pass --wait to wait for it instead.")

    return exclusive_lock(path, None if wait else 0, busy, poll_s)


TRIGGERS = ("data_changed", "drift")


@dataclass
class DataCheck:
    """What a scheduled retrain found: the raw data's hash against the one the last version to face the gate
    was trained on, and (when measured) the drift report of the current data against the champion's."""

    experiment: str
    current_hash: str | None
    last_version: str
    last_hash: str | None
    trigger: str = "data_changed"
    drift: dict[str, Any] | None = None

    @property
    def changed(self) -> bool:
        return self.current_hash != self.last_hash

    @property
    def should_retrain(self) -> bool:
        """New data, and under ``trigger: drift`` a drifted statistic too: data the gate already judged is
        never retrained again, drifted or not."""
        return self.changed and (self.trigger == "data_changed" or bool(self.drift and self.drift["drift"]))

    def describe(self) -> str:
        if not self.changed:
            return (f"No new data for {self.experiment}: the raw data's hash {self.current_hash} is the one version "
                    f"{self.last_version}, the last to face the gate, was trained on. Nothing to do.")
        found = (f"New or changed data for {self.experiment}: hash {self.current_hash}; version {self.last_version}, "
                 f"the last to face the gate, was trained on {self.last_hash}.")
        if self.drift is not None:
            moved = self.drift["statistics"][0] if self.drift["statistics"] else None
            found += (f" Drift in {', '.join(self.drift['drifted'])}." if self.drift["drift"] else
                      f" No statistic drifted (threshold {self.drift['threshold']}"
                      + (f"; most moved: {moved['statistic']}, {moved['drift']})." if moved else ")."))
        if self.should_retrain:
            return found + " Retraining the champion's recipe."
        return found + " The trigger is drift: nothing retrains."


def retrain_lock_path(project: Path, experiment: str) -> Path:
    return project / "mlruns" / f"retrain-{experiment}.lock"


def check_for_new_data(context) -> DataCheck:
    """Compare the raw data's hash now (forgeml.data.sources.raw_data_hash) with the ``forgeml.raw_md5`` tag of the
    last version to face the gate (the challenger alias; the champion before any challenger), so that a
    challenger the gate refused is not retrained again on the same data. Under ``retrain.trigger: drift``, or
    when the data changed, the current data is also compared with the champion's (``measure_drift``)."""
    import mlflow

    from forgeml.errors import ConfigError
    from forgeml.data.sources import raw_data_hash
    from forgeml.hooks import SOURCE_DATASET
    from forgeml.registry.tracking import alias_version

    experiment, settings = context.params["experiment"], context.params["retrain"]
    if settings["trigger"] not in TRIGGERS:
        raise ConfigError(f"retrain.trigger is {settings['trigger']!r}; choose one of {', '.join(TRIGGERS)} "
                          f"(conf/experiments/{experiment['name']}/parameters_retrain.yml or conf/base/parameters_retrain.yml).")
    champion = alias_version(experiment["name"], "champion")
    if champion is None:
        raise ConfigError(f"Registered model {experiment['name']!r} has no champion: run `make run` first.")
    version = alias_version(experiment["name"], "challenger") or champion
    tags = mlflow.MlflowClient().get_model_version(experiment["name"], version).tags
    check = DataCheck(experiment["name"], raw_data_hash(context.catalog[SOURCE_DATASET]), version,
                      tags.get("forgeml.raw_md5"), settings["trigger"])
    if check.changed or check.trigger == "drift":
        check.drift = measure_drift(context, champion, settings["drift"])
    return check


def measure_drift(context, champion: str, settings: dict[str, float]) -> dict[str, Any]:
    """The drift report (forgeml.data.drift) of the current raw data against the sample of its training data
    the champion's run keeps; written under data/08_reporting/<experiment>/ and logged in MLflow as a run of its
    own (``drift check``, tagged with what drifted), beside the retrain run that may follow. The data must pass
    the experiment's suite first: drift is measured on data that could be trained on, and bad data (an infinite
    value, a new label) stops here with the failed expectations named (DataValidationError)."""
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from forgeml.data.drift import REFERENCE_ARTIFACT, drift_html, drift_report
    from forgeml.errors import ConfigError
    from forgeml.hooks import SOURCE_DATASET
    from forgeml.modality import modality_of
    from forgeml.validation import check_passed, suite_for

    experiment = context.params["experiment"]
    modality = modality_of(experiment)
    run_id = mlflow.MlflowClient().get_model_version(experiment["name"], champion).run_id
    try:
        reference = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_ARTIFACT))
    except MlflowException as error:  # the run has no such artifact
        raise ConfigError(f"The sample of the champion's training data ({REFERENCE_ARTIFACT} of version {champion}'s run) "
                          f"could not be read: {error.message} A champion registered before ForgeML measured drift has "
                          "none: release a new one with `make run`, or set retrain.trigger: data_changed.") from error
    table = modality.ingest(context.catalog.load(SOURCE_DATASET))
    check_passed(modality.validate(modality.checked(table), suite_for(experiment, context.params["data"]["validation"]))[0],
                 experiment["name"], "data")
    current = modality.drift_statistics(table.frame())
    report = {"experiment": experiment["name"], "champion": champion,
              **drift_report(reference, current, settings["threshold"], settings["significance"])}
    page = drift_html(report, reference, current, f"Drift of {experiment['name']} since champion version {champion}")
    context.catalog.save("drift_report", report)
    context.catalog.save("drift_report_html", page)
    with mlflow.start_run(run_name="drift check"):
        mlflow.set_tags({"forgeml.drift": str(report["drift"]).lower(), "forgeml.champion": champion,
                         "forgeml.drifted": ", ".join(report["drifted"])[:5000]})
        mlflow.log_metrics({"drifted_statistics": len(report["drifted"]),
                            "max_drift": max((e["drift"] for e in report["statistics"]), default=0.0)})
        mlflow.log_dict(report, "drift/drift.json")
        mlflow.log_text(page, "drift/drift.html")
    return report


def _complete_interrupted_move(project: Path, params: dict[str, Any]) -> None:
    """A release that crashed while moving aliases may have left the challenger (whose data hash the check
    reads) half moved: complete it first, under the registry lock."""
    from forgeml.registry.moves import reconcile, registry_lock

    audit_log = project / params["release"]["audit_log"]
    with registry_lock(params["experiment"]["name"], params["release"]["lock_timeout_s"]):
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
        with retrain_lock(retrain_lock_path(project, experiment), wait):
            _complete_interrupted_move(project, context.params)
            check = check_for_new_data(context)
            echo(check.describe())
            if not check.should_retrain:
                return None
            session.run(pipeline_names=["retrain"])
            return context.catalog.load("retrain_promotion")
