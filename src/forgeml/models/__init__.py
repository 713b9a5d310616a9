"""Models, each built from a small config: ``build_model({"family": "mlp", ...}, n_features, n_classes)``."""

from forgeml.models.classifier import TorchClassifier
from forgeml.models.tabular import MODEL_FAMILIES, Standardize, build_model

__all__ = ["MODEL_FAMILIES", "Standardize", "TorchClassifier", "build_model"]
