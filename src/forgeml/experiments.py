"""Which experiment runs: one folder per experiment under ``conf/experiments``, picked by name.

An experiment is what differs for one data set (its source, modality, suite, candidates, model-card
text); an environment (``conf/local``, ``conf/test``, ``conf/postgres``) is where and how big it runs.
The two are independent: ``FORGEML_EXPERIMENT`` picks the first, ``KEDRO_ENV`` (or ``--env``) the second.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

from forgeml.errors import ConfigError

EXPERIMENT_VARIABLE = "FORGEML_EXPERIMENT"
DEFAULT_EXPERIMENT = "breast_cancer"
EXPERIMENTS_FOLDER = "experiments"  # under conf/
# An experiment's name is also a folder under every data layer, an MLflow experiment and a registered model:
# one path segment, so that no name reaches outside the project's folders.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


def checked_name(name: str, what: str) -> str:
    """``name`` if it is a valid experiment (and registered model) name; else a ConfigError naming ``what``."""
    if not NAME.fullmatch(name or ""):
        raise ConfigError(
            f"{what} is {name!r}, which is not an experiment name: a letter, then letters, digits or underscores "
            "(it names folders under data/ and conf/experiments, the MLflow experiment, the registered model and "
            "the DVC stages).")
    return name


def experiment_names(conf: Path) -> list[str]:
    folder = conf / EXPERIMENTS_FOLDER
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def selected_experiment(conf: Path) -> str:
    """The experiment named by ``FORGEML_EXPERIMENT`` (default breast_cancer); it must have a folder."""
    name = checked_name(os.environ.get(EXPERIMENT_VARIABLE) or DEFAULT_EXPERIMENT, EXPERIMENT_VARIABLE)
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
