from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, task

from kedro.framework.session import KedroSession
from kedro.framework.project import configure_project

from forgeml.experiments import experiment_names, experiment_selected

# Kedro settings required to run your pipeline
env = "local"
pipeline_name = "retrain"
project_path = Path(__file__).resolve().parents[2]  # this file lives in <project>/airflow/dags/
package_name = "forgeml"
conf_source = "" or project_path / "conf"


def _session() -> KedroSession:
    """A session; open it inside ``experiment_selected`` (the config loader reads the experiment's name then)."""
    configure_project(package_name)
    return KedroSession.create(project_path=project_path, env=env, conf_source=conf_source)


def _run_kedro_node(experiment: str, node_names=None, namespaces=None):
    """Run a Kedro pipeline slice of ``experiment`` under its retrain lock (shared with `forgeml retrain`)."""
    from forgeml.scheduling import retrain_lock, retrain_lock_path

    with experiment_selected(experiment), _session() as session:
        with retrain_lock(retrain_lock_path(project_path, experiment), wait=True):
            if namespaces is not None:
                session.run(pipeline_names=[pipeline_name], namespaces=namespaces)
            else:
                session.run(pipeline_names=[pipeline_name], node_names=node_names)


def retrain_dag(experiment: str):
    """The DAG that retrains ``experiment``: ``forgeml-retrain-<experiment>``."""

    @dag(
        dag_id=f"forgeml-retrain-{experiment}",
        start_date=datetime(2026,1,1),
        max_active_runs=1,  # two retrains never interleave
        schedule="@daily",
        catchup=False,
        tags=["forgeml", experiment],
        default_args=dict(
            owner="forgeml",
            depends_on_past=False,
            email_on_failure=False,
            email_on_retry=False,
            retries=0,
            retry_delay=timedelta(minutes=5)
        ),
    )
    def retrain_dag():

        @task.short_circuit(task_id="check-for-new-data")
        def check_for_new_data():
            """Skip every later task when there is nothing to retrain: the raw data is what the last gated version
            was trained on, or (retrain.trigger: drift) nothing drifted; the drift report is written either way."""
            from forgeml.scheduling import check_for_new_data

            with experiment_selected(experiment), _session() as session:
                check = check_for_new_data(session.load_context())
            print(check.describe())
            return check.should_retrain

        @task(task_id="retrain")
        def retrain():
            _run_kedro_node(experiment, namespaces=["retrain"])

        tasks = {
            "check-for-new-data": check_for_new_data(),
            "retrain": retrain(),
        }
        tasks["check-for-new-data"] >> tasks["retrain"]

    return retrain_dag()


for _experiment in experiment_names(Path(conf_source)):
    retrain_dag(_experiment)