"""Helpers shared by test modules: the project's config loader, servers and a browser (a free port, a command
served until it answers, a request to it, headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pandas as pd

from forgeml.config_loader import ExperimentConfigLoader
from tests.pipelines.conftest import project_env, tracking_uri

CHROMIUM = shutil.which("chromium")


def loader(conf, env, monkeypatch, experiment) -> ExperimentConfigLoader:
    """The config loader a Kedro session of ``experiment`` in ``env`` builds over the folder ``conf``."""
    monkeypatch.setenv("FORGEML_EXPERIMENT", experiment)
    return ExperimentConfigLoader(str(conf), env=env, base_env="base", default_run_env="local",
                                  merge_strategy={"parameters": "soft"},
                                  config_patterns={"mlflow": ["mlflow*", "mlflow*/**"]})  # as kedro-mlflow adds it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # the whole group has already exited
        pass


def stop_group(process: subprocess.Popen, grace_s: float = 3) -> None:
    """Stop a server started in its own process group: SIGTERM, then SIGKILL after ``grace_s``. The tests check
    what a server answers, not how it shuts down, and an MLflow server takes about 10 s to stop on SIGTERM."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


@contextmanager
def serving(command: list[str], project, health: str, timeout: float = 120):
    """Run ``command`` in the project until it answers ``health`` with 200; stop it afterwards."""
    env = {**project_env(), "MLFLOW_TRACKING_URI": tracking_uri(project), "MLFLOW_REGISTRY_URI": tracking_uri(project)}
    # its own process group: a server's workers (or make's child) stop with it
    process = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _signal_group(process, signal.SIGKILL)
                raise AssertionError(f"{' '.join(command)} did not come up:\n{process.stdout.read()[-3000:]}")
            time.sleep(0.5)
        yield process
    finally:
        stop_group(process)


def post(port: int, rows: pd.DataFrame) -> tuple[int, dict]:
    """POST ``rows`` to the scoring server; its status and JSON answer (an error's too)."""
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000",
         "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=120,
    )
