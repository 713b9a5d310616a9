"""Which experiment runs: one folder per experiment under ``conf/experiments``, picked by name.

An experiment is what differs for one data set (its source, modality, suite, candidates, model-card
text); an environment (``conf/local``, ``conf/test``, ``conf/postgres``) is where and how big it runs.
The two are independent: ``FORGEML_EXPERIMENT`` picks the first, ``KEDRO_ENV`` (or ``--env``) the second.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from forgeml.errors import ConfigError

EXPERIMENT_VARIABLE = "FORGEML_EXPERIMENT"
DEFAULT_EXPERIMENT = "breast_cancer"
EXPERIMENTS_FOLDER = "experiments"  # under conf/


def experiment_names(conf: Path) -> list[str]:
    folder = conf / EXPERIMENTS_FOLDER
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def selected_experiment(conf: Path) -> str:
    """The experiment named by ``FORGEML_EXPERIMENT`` (default breast_cancer); it must have a folder."""
    name = os.environ.get(EXPERIMENT_VARIABLE) or DEFAULT_EXPERIMENT
    if not (conf / EXPERIMENTS_FOLDER / name).is_dir():
        known = ", ".join(experiment_names(conf)) or "none"
        raise ConfigError(
            f"No experiment {name!r}: there is no folder {conf / EXPERIMENTS_FOLDER / name}. "
            f"Experiments: {known}. Pick one with {EXPERIMENT_VARIABLE}=NAME (make run EXPERIMENT=NAME)."
        )
    return name


@contextmanager
def experiment_selected(name: str):
    """Run a block (a KedroSession) on experiment ``name``, then restore the selection."""
    before = os.environ.get(EXPERIMENT_VARIABLE)
    os.environ[EXPERIMENT_VARIABLE] = name
    try:
        yield name
    finally:
        if before is None:
            os.environ.pop(EXPERIMENT_VARIABLE, None)
        else:
            os.environ[EXPERIMENT_VARIABLE] = before
