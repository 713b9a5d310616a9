"""No entry point calls out to the network or asks about telemetry."""

from __future__ import annotations

import subprocess
import sys

from tests.pipelines.conftest import REPO, make_project, project_env

TRACKERS = ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY", "CI", "PYTEST_CURRENT_TEST",
            "GITHUB_ACTIONS")


def untracked_env() -> dict[str, str]:
    """The environment of a user who set nothing about telemetry (and is not in CI, which MLflow also reads)."""
    return {key: value for key, value in project_env().items() if key not in TRACKERS}


def test_importing_forgeml_turns_mlflow_telemetry_off():
    probe = "import forgeml; from mlflow.telemetry.utils import is_telemetry_disabled; print(is_telemetry_disabled())"
    result = subprocess.run([sys.executable, "-c", probe], env=untracked_env(), capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_kedro_sends_no_usage_data_even_without_the_telemetry_file(tmp_path):
    """kedro-telemetry assumes consent (and says so) unless told otherwise; the project tells it, even in a copy
    without the repository's .telemetry file."""
    project = make_project(tmp_path)
    assert not (project / ".telemetry").exists()
    result = subprocess.run(["kedro", "registry", "list"], env=untracked_env(), cwd=project, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "release" in result.stdout
    assert "telemetry" not in (result.stdout + result.stderr).lower()  # no notice of implicit consent, no prompt
    assert "consent: false" in (REPO / ".telemetry").read_text()
