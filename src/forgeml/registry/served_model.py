"""What MLflow runs to load a registered version (MLflow's models from code, forgeml.registry.pyfunc): the
pyfunc class its ``inputs`` setting names, whose ``load_context`` reads the classifier's files."""

from mlflow.models import ModelConfig, set_model

from forgeml.registry.pyfunc import SERVED_MODELS

set_model(SERVED_MODELS[ModelConfig().get("inputs")]())
