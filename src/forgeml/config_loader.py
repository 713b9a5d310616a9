"""Kedro's OmegaConfigLoader with one more layer: ``conf/base`` -> ``conf/experiments/<name>`` -> the env.

Each layer overrides single keys of the one below (parameters merge softly, catalog entries whole), and
``--params`` on the command line wins over all three. ``globals:experiment`` is the selected experiment's
name, so every catalog path is scoped by it.

Parameters are logged to the tracking store, so none may hold a credential: a URL with a password
anywhere in a value (an Optuna storage, a sentence, an item of a list), or a key named like a password,
secret or token, is refused, naming the key, before anything runs. Passwords come from the environment
(PGPASSWORD or ~/.pgpass for PostgreSQL; MLFLOW_TRACKING_USERNAME/PASSWORD, or kedro-mlflow's
``server.credentials`` naming an entry of conf/local/credentials.yml, for the MLflow server).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

from forgeml.experiments import EXPERIMENTS_FOLDER, experiment_selected, selected_experiment


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # an experiment or environment overrides single parameters (train.defaults.epochs), not whole blocks
    "merge_strategy": {"parameters": "soft"},
}


class ExperimentConfigLoader(OmegaConfigLoader):
    def __init__(self, conf_source: str, *args, **kwargs):
        self.experiment = selected_experiment(Path(conf_source))
        super().__init__(conf_source, *args, **kwargs)

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key in self or key not in self.config_patterns:
            return super().__getitem__(key)
        run_env = self.env
        self.env = f"{EXPERIMENTS_FOLDER}/{self.experiment}"  # base + experiment, through Kedro's own merge
        try:
            config = super().__getitem__(key)
        finally:
            self.env = run_env
        env = run_env or self.default_run_env
        if env and env != self.base_env:
            self._register_runtime_params_resolver()
            env_path = self._get_conf_env_path(env)
            files = self._read_dir_configs(env_path, [*self.config_patterns[key]], key, set(), key == "credentials")
            config = self._merge_configs(config, self._merge_and_resolve(key, files), key, env_path)
        if key == "globals":
            config = {**config, "experiment": self.experiment}
        if key == "parameters":
            refuse_passwords(config)
        return config


def experiment_parameters(conf_source: Path, experiment: str, env: str | None = None) -> dict[str, Any]:
    """The parameters a run of ``experiment`` in ``env`` reads, for tools that run outside a Kedro session
    (benchmarks/), with the same loader and settings as a run."""
    with experiment_selected(experiment):
        return ExperimentConfigLoader(str(conf_source), env=env, **CONFIG_LOADER_ARGS)["parameters"]


# A URL with a password, wherever it sits in a string: scheme://user:password@host
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")
# A key that names a credential as a whole word (``db_password``, ``api-token``; not ``head_tokens``)
CREDENTIAL_KEY = re.compile(r"(?:^|[_\-.])(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key)$",
                            re.IGNORECASE)


def refuse_passwords(parameters: Any, prefix: str = "") -> None:
    """A ConfigError naming the first parameter that holds a credential (its value is not repeated): a URL with a
    password anywhere in a string, or a non-empty value under a key named like a credential. Lists and nested
    mappings are searched too."""
    from forgeml.errors import ConfigError

    items = parameters.items() if isinstance(parameters, dict) else enumerate(parameters)
    for name, value in items:
        key = f"{prefix}{name}" if isinstance(parameters, dict) else f"{prefix.rstrip('.')}[{name}]"
        if isinstance(value, (dict, list, tuple)):
            refuse_passwords(value, f"{key}.")
        elif isinstance(name, str) and CREDENTIAL_KEY.search(name) and value not in (None, ""):
            raise ConfigError(
                f"Parameter {key} is named like a credential and holds a value, and parameters are logged to the "
                "tracking store. Give it through the environment or conf/local/credentials.yml instead.")
        elif isinstance(value, str) and URL_WITH_PASSWORD.search(value):
            raise ConfigError(
                f"Parameter {key} holds a password, and parameters are logged to the tracking store. Remove it "
                "from the URL and give it through the environment instead (PGPASSWORD or ~/.pgpass for PostgreSQL).")
