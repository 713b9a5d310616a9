"""Kedro's OmegaConfigLoader with one more layer: ``conf/base`` -> ``conf/experiments/<name>`` -> the env.

Each layer overrides single keys of the one below (parameters merge softly, catalog entries whole), and
``--params`` on the command line wins over all three. ``globals:experiment`` is the selected experiment's
name, so every catalog path is scoped by it.
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
        return config
