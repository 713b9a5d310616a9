"""Models, each built from a small config: ``build_model({"family": "resnet", ...}, input_shape, n_classes)``."""

from forgeml.models.build import MODEL_FAMILIES, Standardize, ToImage, build_model
from forgeml.models.classifier import TextClassifier, TorchClassifier
from forgeml.models.complexity import count_flops, count_parameters

__all__ = ["MODEL_FAMILIES", "Standardize", "TextClassifier", "ToImage", "TorchClassifier", "build_model", "count_flops", "count_parameters"]
