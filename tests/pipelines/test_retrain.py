"""`forgeml retrain` end to end: a project whose raw data is a CSV file, trained once, then retrained
only when rows are appended (under `retrain.trigger: drift`, only when they also drift), under a lock that
keeps two retrains from interleaving."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from forgeml.registry.audit import read_records
from forgeml.scheduling import retrain_lock, retrain_lock_path
from tests.pipelines.conftest import kedro_run_here, make_project, project_env

MODEL = "breast_cancer"
RAW = "data/01_raw/breast_cancer.csv"
NEW_ROWS = 60


def _quick(project):
    """conf/test, quicker still: the MLP and its tuned version, two trials, one INT8 candidate of the best."""
    path = project / "conf/test/parameters.yml"
    params = yaml.safe_load(path.read_text())
    params["train"]["candidates"] = {"logreg": None, "sklearn_logreg": None, "sklearn_hgb": None}
    params["tune"]["n_trials"] = 2
    params["compress"]["methods"] = {"int8_static": None, "int8_tuned": None, "pruned_50": None, "pruned_channels": None,
                                     "distilled": None}  # int8_dynamic stays
    path.write_text(yaml.safe_dump(params))
    (project / "conf/test/catalog.yml").write_text(f"source:\n  type: pandas.CSVDataset\n  filepath: {RAW}\n")


@pytest.fixture(scope="module")
def retrain_project(tmp_path_factory, breast_cancer):
    """Trained once on all but the last NEW_ROWS rows of the raw CSV."""
    project = make_project(tmp_path_factory.mktemp("retrain"))
    _quick(project)
    breast_cancer.iloc[:-NEW_ROWS].to_csv(project / RAW, index=False)
    kedro_run_here(project)
    return project


def retrain(project, *args) -> subprocess.Popen:
    return subprocess.Popen(["forgeml", "retrain", "--env", "test", *args], cwd=project, env=project_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out + err


def retrain_here(forgeml_here, project) -> tuple[int, str]:
    """``forgeml retrain`` in this process: its exit code and output. The lock and the two retrains started together
    take processes of their own (``retrain``), as a scheduler starts them."""
    result = forgeml_here(project, "retrain", "--env", "test")
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def client(retrain_project, client_for):
    return client_for(retrain_project)


def versions(client) -> list[str]:
    return sorted((str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")), key=int)


def alias(client, name) -> str:
    return str(client.get_model_version_by_alias(MODEL, name).version)


def test_retrain_on_unchanged_data_does_nothing_and_says_so(retrain_project, client, forgeml_here):
    before = versions(client)
    code, output = retrain_here(forgeml_here, retrain_project)
    assert code == 0, output
    assert "No new data for breast_cancer" in output and "Nothing to do" in output
    assert versions(client) == before


def test_a_retrain_while_another_holds_the_lock_refuses_and_touches_nothing(retrain_project, client):
    before = versions(client)
    with retrain_lock(retrain_lock_path(retrain_project, MODEL)):
        code, output = finish(retrain(retrain_project))
    assert code == 3, output
    assert "Another retrain holds" in output and "--wait" in output
    assert versions(client) == before


def test_appended_rows_retrain_once_even_when_two_retrains_start_together(retrain_project, client, breast_cancer):
    before, champion_before = versions(client), alias(client, "champion")
    breast_cancer.iloc[-NEW_ROWS:].to_csv(retrain_project / RAW, mode="a", header=False, index=False)
    first, second = retrain(retrain_project, "--wait"), retrain(retrain_project, "--wait")
    outputs = [finish(first), finish(second)]
    assert [code for code, _ in outputs] == [0, 0], outputs
    retrained = [out for _, out in outputs if "Retrained as version" in out]
    waited = [out for _, out in outputs if "No new data" in out]
    assert len(retrained) == 1 and len(waited) == 1, outputs  # the second waited, then found the data already used

    new = [v for v in versions(client) if v not in before]
    assert len(new) == 1  # the registry is consistent: one retrained version, gated once
    version = client.get_model_version(MODEL, new[0])
    assert version.tags["forgeml.candidate"] == "retrained" and "## Intended use" in version.description
    assert alias(client, "challenger") == new[0]
    gate = [r for r in read_records(retrain_project / "data/08_reporting/breast_cancer/audit.jsonl")
            if r["event"] == "gate"][-1]
    assert gate["version"] == new[0] and gate["champion"] == champion_before
    # Promoted exactly when the gate passed; either way the reason is on record.
    assert alias(client, "champion") == (new[0] if gate["promoted"] else champion_before)
    assert gate["rule"] in ("gate passed", "min_improvement", "significance", "constraints") and gate["reason"]
    assert f"rule: {gate['rule']}" in retrained[0] or "promoted to champion" in retrained[0]

    code, output = finish(retrain(retrain_project))
    assert code == 0 and "No new data" in output  # nothing new since


@pytest.fixture
def drift_trigger(retrain_project):
    """`retrain.trigger: drift` in the test env of this project, for one test."""
    path = retrain_project / "conf/test/parameters.yml"
    shipped = path.read_text()
    path.write_text(yaml.safe_dump({**yaml.safe_load(shipped), "retrain": {"trigger": "drift"}}))
    yield
    path.write_text(shipped)


def _append_resampled(project, rows, seed, shift=None):
    """``rows`` rows drawn from the raw CSV with a little noise (new inputs, the same distribution), one column
    moved by ``shift`` of its standard deviations when asked."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(project / RAW)
    rng = np.random.default_rng(seed)
    new = raw.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    features = new.columns.drop("target")
    new[features] = new[features] * (1 + rng.normal(0, 0.01, size=(rows, len(features))))
    if shift:
        column, by = shift
        new[column] = new[column] + by * raw[column].std()
    pd.concat([raw, new]).to_csv(project / RAW, index=False)


def test_an_unshifted_append_under_the_drift_trigger_writes_the_report_and_retrains_nothing(retrain_project, client,
                                                                                            drift_trigger, forgeml_here):
    before = versions(client)
    _append_resampled(retrain_project, rows=150, seed=1)

    code, output = retrain_here(forgeml_here, retrain_project)

    assert code == 0, output[-3000:]
    assert "New or changed data" in output and "No statistic drifted (threshold 0.1" in output and "nothing retrains" in output
    report = json.loads((retrain_project / "data/08_reporting/breast_cancer/drift/drift.json").read_text())
    assert report["drift"] is False and report["drifted"] == [] and len(report["statistics"]) == 30
    assert report["champion"] == alias(client, "champion")
    assert "No drift" in (retrain_project / "data/08_reporting/breast_cancer/drift/drift.html").read_text()
    assert versions(client) == before
    checks = client.search_runs([client.get_experiment_by_name(MODEL).experiment_id], "tags.mlflow.runName = 'drift check'")
    assert checks and checks[0].data.tags["forgeml.drift"] == "false"  # logged in MLflow beside the retrain runs
    assert {a.path for a in client.list_artifacts(checks[0].info.run_id, "drift")} == {"drift/drift.json", "drift/drift.html"}


def test_one_shifted_feature_under_the_drift_trigger_is_named_and_retrains_through_the_gate(retrain_project, client, drift_trigger,
                                                                                          forgeml_here):
    before = versions(client)
    _append_resampled(retrain_project, rows=250, seed=2, shift=("mean radius", 2.0))  # inside the suite's bounds

    code, output = retrain_here(forgeml_here, retrain_project)

    assert code == 0 and "Drift in mean radius." in output and "Retrained as version" in output, output[-3000:]
    report = json.loads((retrain_project / "data/08_reporting/breast_cancer/drift/drift.json").read_text())
    assert report["drift"] is True and report["drifted"] == ["mean radius"]
    assert report["statistics"][0]["statistic"] == "mean radius" and report["statistics"][0]["drift"] > 0.1
    assert "mean radius" in (retrain_project / "data/08_reporting/breast_cancer/drift/drift.html").read_text()
    (new,) = set(versions(client)) - set(before)
    gate = [r for r in read_records(retrain_project / "data/08_reporting/breast_cancer/audit.jsonl") if r["event"] == "gate"][-1]
    assert gate["version"] == new  # it went through the gate


def test_an_int8_champion_is_retrained_as_the_int8_of_the_retrained_base(retrain_project, client, forgeml_here):
    import pandas as pd

    int8 = next(v for v in client.search_model_versions(f"name = '{MODEL}'") if v.tags["forgeml.candidate"] == "int8_dynamic")
    promoted = forgeml_here(retrain_project, "promote", "--model", MODEL, "--version", str(int8.version),
                            "--reason", "an INT8 champion")
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    before = set(versions(client))
    raw = retrain_project / RAW
    pd.concat([pd.read_csv(raw), pd.read_csv(raw).tail(5).assign(**{"mean radius": lambda f: f["mean radius"] * 1.01})]
              ).to_csv(raw, index=False)  # five new rows
    code, output = retrain_here(forgeml_here, retrain_project)
    assert code == 0 and "Retrained as version" in output, output[-3000:]

    (new,) = set(versions(client)) - before
    challenger = client.get_model_version(MODEL, new)
    assert challenger.tags["forgeml.candidate"] == "retrained"
    run = client.get_run(challenger.run_id)
    assert run.data.tags["forgeml.compression.method"] == "int8" and run.data.tags["forgeml.compression.base"] == "retrained_base"
    assert "`int8` of `retrained_base`" in challenger.description  # its card says what it is
    assert run.data.params["compression.mode"] == "dynamic"


def _with_an_infinite_row(raw: bytes) -> bytes:
    import io

    import numpy as np
    import pandas as pd

    table = pd.read_csv(io.BytesIO(raw))
    return pd.concat([table, table.head(1).assign(**{"mean radius": np.inf})]).to_csv(index=False).encode()


BAD_DATA = {
    "appended-infinity": (_with_an_infinite_row, "expect_column_values_to_be_between on column 'mean radius'"),
    "empty": (lambda raw: b"", "a catalog entry could not be read"),
    "garbage": (lambda raw: bytes(range(256)) * 20, "a catalog entry could not be read"),
    "latin-1": (lambda raw: raw.replace(b"mean radius", "mean radius \u00e9".encode("latin-1"), 1),
                "a catalog entry could not be read"),
}


def drift_checks(client) -> int:
    return len(client.search_runs([client.get_experiment_by_name(MODEL).experiment_id], "tags.mlflow.runName = 'drift check'"))


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_raw_data_stops_retrain_with_exit_2_before_any_drift_check_and_changes_nothing(retrain_project, client,
                                                                                            forgeml_here, case):
    """The drift check reads only data that passed the suite; a file that cannot be read at all is named."""
    spoil, message = BAD_DATA[case]
    raw = retrain_project / RAW
    good = raw.read_bytes()
    before, champion_before, checks_before = versions(client), alias(client, "champion"), drift_checks(client)
    raw.write_bytes(spoil(good))
    try:
        code, output = retrain_here(forgeml_here, retrain_project)
    finally:
        raw.write_bytes(good)
    assert code == 2 and message in output and "Traceback" not in output, output[-3000:]
    assert versions(client) == before and alias(client, "champion") == champion_before
    assert drift_checks(client) == checks_before
