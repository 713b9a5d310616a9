"""A real SQLite MLflow store per test, with the registered model ``m``."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_registry(tmp_path):
    """(client, uri) of a fresh store holding the registered model ``m``; the process's URIs reset afterwards."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.create_registered_model("m")
    yield client, uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
