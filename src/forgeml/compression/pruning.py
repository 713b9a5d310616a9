"""Pruning: global unstructured magnitude pruning, and structured channel pruning with torch-pruning.

Both prune in steps with fine-tuning in between (``fine_tune(module)``), which recovers far more
accuracy than one cut to the target. Unstructured pruning zeroes weights; dense kernels do not get
faster from zeros, so only structured pruning, which removes whole channels, lowers FLOPs and latency.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from forgeml.checks import fraction
from forgeml.errors import ConfigError

PRUNABLE = (nn.Linear, nn.Conv2d)


def _weights(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, layer) for name, layer in module.named_modules() if isinstance(layer, PRUNABLE)]


def sparsity(module: nn.Module) -> dict[str, float]:
    """Fraction of zero weights per prunable layer, and ``overall`` over all of them."""
    layers = {name: layer.weight.detach() for name, layer in _weights(module)}
    report = {name: float((weight == 0).float().mean()) for name, weight in layers.items()}
    zeros = sum(int((weight == 0).sum()) for weight in layers.values())
    report["overall"] = zeros / max(1, sum(weight.numel() for weight in layers.values()))
    return report


def _current_weights(parameters: list[tuple[nn.Module, str]]) -> dict[tuple[nn.Module, str], torch.Tensor]:
    """Each layer's weight as its next forward will see it. A pruned layer's ``weight`` attribute is only
    recomputed by that forward, so after fine-tuning restored its best epoch it still holds the last epoch's."""
    return {(layer, name): (getattr(layer, f"{name}_orig") * getattr(layer, f"{name}_mask") if hasattr(layer, f"{name}_mask")
                            else getattr(layer, name)).detach() for layer, name in parameters}


def prune_unstructured(
    module: nn.Module, target: float, steps: int, fine_tune: Callable[[nn.Module], None]
) -> dict[str, float]:
    """Zero the ``target`` fraction of all prunable weights with the smallest magnitude, globally.

    The sparsity rises linearly over ``steps``, with fine-tuning after each; the masks are then made
    permanent, so the saved module is a plain one with zeros in it. Returns the sparsity per layer.
    """
    from torch.nn.utils import prune

    target = fraction(target, "Pruning `sparsity`")
    parameters = [(layer, "weight") for _, layer in _weights(module)]
    reached = 0.0
    for step in range(1, steps + 1):
        goal = target * step / steps
        # Global pruning flattens every weight and mask with views, which only the standard layout allows: a model
        # trained on CUDA (channels_last) or fine-tuned there comes back in it, and is put back here to be sure.
        module.to(memory_format=torch.contiguous_format)
        # `amount` applies to the weights still unpruned, so convert the cumulative goal.
        prune.global_unstructured(parameters, prune.L1Unstructured, importance_scores=_current_weights(parameters),
                                  amount=(goal - reached) / (1 - reached))
        reached = goal
        fine_tune(module)
    for layer, name in parameters:
        prune.remove(layer, name)
    return sparsity(module)


def output_layer(module: nn.Module) -> nn.Module:
    """The last Linear layer: its outputs are the classes, so it must keep all of them."""
    linears = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
    if not linears:
        raise ConfigError("Structured pruning needs a model that ends in a Linear layer.")
    return linears[-1]


def prune_structured(
    module: nn.Module, example_inputs: torch.Tensor, channel_ratio: float, steps: int,
    fine_tune: Callable[[nn.Module], None],
) -> dict[str, int]:
    """Remove the ``channel_ratio`` fraction of channels (and hidden units) with the smallest L2 norm.

    torch-pruning's dependency graph prunes coupled layers together (a residual addition, batch norm
    after a convolution, the next layer's inputs), so the module stays valid after every step.
    Returns the parameter count before and after.
    """
    import torch_pruning as tp

    channel_ratio = fraction(channel_ratio, "Structured pruning `channel_ratio`")
    before = sum(p.numel() for p in module.parameters())
    module.eval()
    pruner = tp.pruner.MetaPruner(
        module, example_inputs, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=channel_ratio,
        iterative_steps=steps, ignored_layers=[output_layer(module)],
    )
    for _ in range(steps):
        pruner.step()
        fine_tune(module)
    return {"parameters_before": before, "parameters_after": sum(p.numel() for p in module.parameters())}
