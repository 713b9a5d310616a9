"""Kedro project settings."""

import warnings

from forgeml.config_loader import CONFIG_LOADER_ARGS, ExperimentConfigLoader  # noqa: F401  (Kedro reads both here)
from forgeml.hooks import CollectorHooks, LineageHooks

# kedro-mlflow's own PythonModel triggers this advice at import; it is not actionable here.
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)
# Inductor's advice about its own code, raised each time an INT8 model is compiled.
warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning, module=r"torch\._inductor")

HOOKS = (LineageHooks(), CollectorHooks())
CONFIG_LOADER_CLASS = ExperimentConfigLoader  # base -> experiment -> env
