"""Model compression: pruning, INT8 quantization with Intel Neural Compressor, knowledge distillation.

``METHODS`` (forgeml.compression.methods) is the registry the compress stage loops over; each method
returns smaller or faster candidates plus a record of what it did, and evaluation, registration and
promotion treat them like any other candidate.
"""

from forgeml.compression.distillation import DistillationLoss
from forgeml.compression.methods import METHODS
from forgeml.compression.pruning import prune_structured, prune_unstructured, sparsity
from forgeml.compression.quantization import QuantizationPlan, quantize, search_quantization

__all__ = [
    "DistillationLoss", "METHODS", "QuantizationPlan", "prune_structured", "prune_unstructured", "quantize",
    "search_quantization", "sparsity",
]
