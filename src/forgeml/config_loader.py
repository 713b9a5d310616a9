"""Kedro's OmegaConfigLoader with one more layer: ``conf/base`` -> ``conf/experiments/<name>`` -> the env.

Each layer overrides single keys of the one below (parameters merge softly, catalog entries whole), and
``--params`` on the command line wins over all three. ``globals:experiment`` is the selected experiment's
name, so every catalog path is scoped by it.

Parameters are logged to the tracking store, so none may hold a password: a URL with one (an Optuna
storage, say) is refused, naming the key, before anything runs. Passwords come from the environment
(PGPASSWORD or ~/.pgpass for PostgreSQL; MLFLOW_TRACKING_USERNAME/PASSWORD, or kedro-mlflow's
``server.credentials`` naming an entry of conf/local/credentials.yml, for the MLflow server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

from forgeml.experiments import EXPERIMENTS_FOLDER, selected_experiment


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


def refuse_passwords(parameters: dict[str, Any], prefix: str = "") -> None:
    """A ConfigError naming the first parameter that is a URL with a password (its value is not repeated)."""
    from urllib.parse import urlsplit

    from forgeml.errors import ConfigError

    for name, value in parameters.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            refuse_passwords(value, f"{key}.")
        elif isinstance(value, str) and "://" in value and urlsplit(value).password:
            raise ConfigError(
                f"Parameter {key} holds a password, and parameters are logged to the tracking store. Remove it "
                "from the URL and give it through the environment instead (PGPASSWORD or ~/.pgpass for PostgreSQL).")
