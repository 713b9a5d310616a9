"""The `forgeml` command in a process that a fault is injected into (the store and the command are real):

    python -m tests.registry.faulty_cli kill METHOD N -- ARGS...   SIGKILL itself just before the Nth call of METHOD
    python -m tests.registry.faulty_cli slow METHOD SECONDS -- ARGS...   sleep before each call of METHOD

METHOD is an MlflowClient method, or ``append_records`` (the audit log's append)."""

from __future__ import annotations

import os
import signal
import sys
import time
from unittest import mock

import mlflow

import forgeml.registry.moves
from forgeml.cli import main


def faulty(original, fault):
    calls = {"n": 0}

    def call(*args, **kwargs):
        calls["n"] += 1
        fault(calls["n"])
        return original(*args, **kwargs)

    return call


if __name__ == "__main__":
    mode, method, amount, separator, *args = sys.argv[1:]
    assert separator == "--"
    if mode == "kill":
        fault = lambda n: os.kill(os.getpid(), signal.SIGKILL) if n == int(amount) else None  # noqa: E731
    else:
        fault = lambda n: time.sleep(float(amount))  # noqa: E731
    owner = mlflow.MlflowClient if hasattr(mlflow.MlflowClient, method) else forgeml.registry.moves
    with mock.patch.object(owner, method, faulty(getattr(owner, method), fault)):
        main(args)
