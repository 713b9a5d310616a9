"""Model compression: pruning, INT8 quantization with Intel Neural Compressor, knowledge distillation.

Each function takes a trained torch module and returns a smaller or faster one plus a report of
what it did; evaluation, registration and promotion treat the result like any other candidate.
"""

from forgeml.compression.distillation import DistillationLoss
from forgeml.compression.pruning import prune_structured, prune_unstructured, sparsity
from forgeml.compression.quantization import QuantizationPlan, QuantizedModule, quantize, search_quantization

__all__ = [
    "DistillationLoss", "QuantizationPlan", "QuantizedModule", "prune_structured", "prune_unstructured", "quantize",
    "search_quantization", "sparsity",
]
