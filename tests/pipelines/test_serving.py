"""The champion over HTTP (`mlflow models serve`, as `make serve` runs it), and the audit view a
reviewer gets: the MLflow UI opened in headless Chromium, with screenshots under data/08_reporting/."""

from __future__ import annotations

import json
import shutil
import urllib.request

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.conftest import MODEL, REPO, champion, tracking_uri
from tests.helpers import CHROMIUM, chromium, free_port, post, serving


def test_champion_served_over_http_predicts_as_offline_and_answers_bad_rows_with_400(trained_project, mlflow_client):
    import mlflow

    test = pd.read_parquet(trained_project / "data/05_model_input/breast_cancer/test.parquet")
    features = test.drop(columns=["target"]).head(20)
    offline = np.asarray(mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(features))
    port = free_port()
    command = ["mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion", "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, trained_project, f"http://127.0.0.1:{port}/ping"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_split": features.to_dict(orient="split", index=False)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = np.asarray(json.loads(response.read())["predictions"])
        first = features.columns[0]
        nan_row = features.head(2).astype(float)
        nan_row.iloc[1, 0] = float("nan")
        huge_row = features.head(2).astype(float)
        huge_row.iloc[0, 0] = 1e39  # finite in float64, infinite in the model's float32
        refused = {
            "NaN": (nan_row, f"column '{first}' holds NaN, missing or infinite values in rows 1"),
            "beyond float32": (huge_row, f"column '{first}' holds values beyond float32's range"),
            "missing": (features.head(2).drop(columns=[first]), f"missing columns ['{first}']"),
            "extra": (features.head(2).assign(patient_id=[7, 8]), "unknown columns ['patient_id']"),
        }
        for what, (rows, message) in refused.items():
            status, answer = post(port, rows)
            assert status == 400 and message in answer["message"], (what, answer)
    assert served.shape == (20,)
    np.testing.assert_array_equal(served, offline)
    assert (served == test["target"].head(20).to_numpy()).mean() >= 0.9


@pytest.mark.skipif(CHROMIUM is None, reason="make test installs Chromium (Debian package chromium)")
def test_mlflow_ui_shows_the_champion_alias_and_its_model_card(trained_project, mlflow_client):
    version = champion(mlflow_client)
    port = free_port()
    command = ["mlflow", "server", "--backend-store-uri", tracking_uri(trained_project), "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]
    screenshots = trained_project / "data/08_reporting" / MODEL / "mlflow_ui"
    screenshots.mkdir(parents=True, exist_ok=True)
    pages = {"registered_model": f"#/models/{MODEL}", "champion_version": f"#/models/{MODEL}/versions/{version}"}
    with serving(command, trained_project, f"http://127.0.0.1:{port}/health"):
        # one browser per page, for its DOM and its screenshot
        doms = {name: chromium("--dump-dom", f"--screenshot={screenshots / name}.png", f"http://127.0.0.1:{port}/{page}").stdout
                for name, page in pages.items()}
    # The alias is rendered as a tag titled with its name; the card is the version's description.
    assert 'title="champion"' in doms["registered_model"] and f"Version {version}" in doms["registered_model"]
    assert f"# {MODEL} version {version}" in doms["registered_model"]
    for heading in ("Intended use", "Limitations", "Lineage", "DVC hash"):
        assert heading in doms["champion_version"]
    assert 'title="champion"' in doms["champion_version"]
    reports = REPO / "data/08_reporting/mlflow_ui"  # for a reviewer of the test run; data/ is ignored by git
    reports.mkdir(parents=True, exist_ok=True)
    for name in pages:
        image = screenshots / f"{name}.png"
        assert image.stat().st_size > 20_000  # a rendered page, not a blank one
        shutil.copy(image, reports / image.name)
