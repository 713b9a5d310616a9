"""The retrain DAG in airflow/dags: what kedro-airflow generates today, and a DAG Airflow loads."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.pipelines.conftest import REPO, project_env, run

DAG = REPO / "airflow/dags/forgeml_retrain_dag.py"

# Found, not imported: importing Airflow here would hand the whole test process its logging set-up (the
# DAG is loaded in a process of its own).
if importlib.util.find_spec("airflow") is None:
    pytest.skip("make test installs the airflow extra", allow_module_level=True)

LOAD = """
import json, sys
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {dag_id: {
        "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
        "max_active_runs": dag.max_active_runs,
        "operators": sorted({type(t).__name__ for t in dag.tasks}),
    } for dag_id, dag in bag.dags.items()},
}))
"""


def test_the_committed_dag_is_what_kedro_airflow_generates(tmp_path):
    run(REPO, "kedro", "airflow", "create", "--pipelines", "retrain", "--group-by", "namespace",
        "-j", "airflow/dag_template.j2", "-t", str(tmp_path))
    generated = (tmp_path / DAG.name).read_text()
    assert generated == DAG.read_text(), "airflow/dags is out of date with the pipeline: run `make airflow-dag`"


def test_airflow_loads_a_dag_per_experiment_one_run_at_a_time_checking_for_new_data_first(tmp_path):
    env = {**project_env(), "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-c", LOAD, str(DAG.parent)], env=env, capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    experiments = sorted(folder.name for folder in (REPO / "conf/experiments").iterdir())
    assert sorted(loaded["dags"]) == [f"forgeml-retrain-{name}" for name in experiments]  # tables, images, texts
    for dag in loaded["dags"].values():
        assert dag["tasks"] == {"check-for-new-data": ["retrain"], "retrain": []}
        assert dag["max_active_runs"] == 1
        assert "_ShortCircuitDecoratedOperator" in dag["operators"]
