"""INT8 post-training quantization with Intel Neural Compressor 3.x (PT2E), and an accuracy-aware search.

The path: export with a dynamic batch dimension, INC ``prepare`` (observers), calibrate on training
batches (dynamic INT8 without calibration silently ruins a model), INC ``convert``, then fold the
weight quantization into INT8 constants (INC does not pass ``fold_quantize`` on, so without this the
model keeps its FP32 weights and is no smaller). The result is an exported program, a
``forgeml.models.program.QuantizedModule``, which runs through ``torch.compile``.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.models.program import QuantizedModule, dynamic_batch, program_bytes

BATCH_NORM = torch.ops.aten.batch_norm.default  # a BatchNorm in INC's exported graph
MODES = ("static", "dynamic")
GRANULARITIES = ("per_channel", "per_tensor")
QUANTIZABLE = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class QuantizationPlan:
    """One INC configuration: static (activations calibrated once) or dynamic (scaled per batch)
    INT8, the weights' granularity, and the layers left in FP32."""

    mode: str = "static"
    granularity: str = "per_channel"
    fp32_layers: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict) -> "QuantizationPlan":
        """A plan from a parameters block (a method's own block may carry its ``method`` key too)."""
        unknown = set(params) - {"method", "mode", "granularity", "fp32_layers"}
        if unknown:
            raise ConfigError(f"Unknown quantization settings {sorted(unknown)}; known: mode, granularity, fp32_layers.")
        return cls(params.get("mode", "static"), params.get("granularity", "per_channel"),
                   tuple(params.get("fp32_layers") or ()))

    def describe(self) -> str:
        kept = f", FP32: {', '.join(self.fp32_layers)}" if self.fp32_layers else ""
        return f"{self.mode} INT8, {self.granularity.replace('_', '-')} weights{kept}"

    def check(self, layers: Sequence[str]) -> None:
        """Fail before any work when INC could not apply this plan to a model with ``layers``."""
        if self.mode not in MODES:
            raise ConfigError(f"Quantization mode must be one of {', '.join(MODES)}, not {self.mode!r}.")
        if self.granularity not in GRANULARITIES:
            raise ConfigError(
                f"Quantization granularity must be one of {', '.join(GRANULARITIES)}, not {self.granularity!r}."
            )
        missing = [name for name in self.fp32_layers if name not in layers]
        if missing:
            raise ConfigError(
                f"Quantization `fp32_layers` names {missing}, which the model does not have; "
                f"its quantizable layers are: {', '.join(layers)}."
            )
        if set(self.fp32_layers) >= set(layers):
            raise ConfigError("Quantization `fp32_layers` leaves every layer in FP32: there is nothing to quantize.")

    def inc_config(self):
        from neural_compressor.torch.quantization import DynamicQuantConfig, StaticQuantConfig

        config_class = StaticQuantConfig if self.mode == "static" else DynamicQuantConfig
        config = config_class(w_granularity=self.granularity)
        for name in self.fp32_layers:
            config.set_local(name, config_class(w_dtype="fp32", act_dtype="fp32"))
        return config


def quantizable_layers(module: nn.Module) -> list[str]:
    return [name for name, layer in module.named_modules() if isinstance(layer, QUANTIZABLE)]


def _quiet_inc() -> None:
    """INC logs every step at INFO and warns about the CPU it found; keep its errors only."""
    logging.getLogger("neural_compressor").setLevel(logging.ERROR)


def _batch_norms_as_scale_and_shift(graph_module) -> None:
    """Replace each BatchNorm left in a prepared graph (the quantizer folds one that follows a convolution; one
    that comes first, as a DenseNet's pre-activation ones, stays) by the per-channel scale and shift it applies
    in eval mode.

    torchao's convert looks for training-time convolution-BatchNorm patterns in any graph that keeps a BatchNorm,
    exporting 96 pattern graphs to match them: 35 s on 2 cores for the digits DenseNet, for patterns that
    post-training quantization never makes.
    """
    graph = graph_module.graph

    def constant(argument):
        return operator.attrgetter(argument.target)(graph_module)

    batch_norms = [node for node in graph.nodes if node.target is BATCH_NORM and not node.args[5]]  # eval mode
    for index, node in enumerate(batch_norms):
        inputs, weight, bias, mean, variance, _training, _momentum, eps, _cudnn = node.args
        scale = torch.rsqrt(constant(variance) + eps) * (constant(weight) if weight is not None else 1)
        shift = (constant(bias) if bias is not None else 0) - constant(mean) * scale
        per_channel = (-1,) + (1,) * (node.meta["val"].dim() - 2)  # channels are the second dimension
        with graph.inserting_before(node):
            factors = []
            for kind, value in (("scale", scale), ("shift", shift)):
                name = f"_batch_norm_{index}_{kind}"
                graph_module.register_buffer(name, value.detach().reshape(per_channel))
                factors.append(graph.get_attr(name))
            scaled = graph.call_function(torch.ops.aten.mul.Tensor, (inputs, factors[0]))
            node.replace_all_uses_with(graph.call_function(torch.ops.aten.add.Tensor, (scaled, factors[1])))
        graph.erase_node(node)
    graph_module.recompile()


def _fold_int8_weights(graph_module) -> dict:
    """Turn ``quantize(weight)`` into stored INT8 constants and drop the FP32 weights left unused.

    Returns what the quantized layers take in FP32 and now in INT8 (weights, scales, zero points).
    """
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint

    before = {name: tensor.nbytes for name, tensor in graph_module.state_dict().items()}
    constant_fold(graph_module, _quant_node_constraint)
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    after = graph_module.state_dict()
    for name in after:
        if name not in used:
            owner, _, attribute = name.rpartition(".")
            delattr(graph_module.get_submodule(owner) if owner else graph_module, attribute)
    graph_module.recompile()
    dropped = [name for name in before if name not in used]
    # Per-channel scales and zero points come with the INT8 weights, so they count on that side.
    added = [name for name in after if name in used and (name not in before or name.startswith(("_scale_", "_zero_point_")))]
    return {
        "quantized_fp32_bytes": sum(before[name] for name in dropped),
        "quantized_int8_bytes": sum(after[name].nbytes for name in added),
        "fp32_weights_kept": sorted(name for name in used if name.endswith(".weight")),
    }


def quantize(module: nn.Module, plan: QuantizationPlan, calibration: torch.Tensor, batch_size: int = 256,
             dynamic_shapes: bool = False) -> QuantizedModule:
    """INT8 copy of ``module`` (which takes a batch of inputs shaped like ``calibration``) under ``plan``;
    ``dynamic_shapes``: see ``QuantizedModule``."""
    import copy

    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import convert, prepare

    _quiet_inc()

    layers = quantizable_layers(module)
    plan.check(layers)
    example = (calibration[:2].clone(),)  # a view would save the whole calibration tensor with the model
    exported = export(copy.deepcopy(module).cpu().eval(), example, dynamic_shapes=dynamic_batch())
    prepared = prepare(exported, plan.inc_config())
    with torch.no_grad():
        for start in range(0, len(calibration), batch_size):
            prepared(calibration[start : start + batch_size].cpu())
    _batch_norms_as_scale_and_shift(prepared)
    converted = convert(prepared)
    report = _fold_int8_weights(converted)
    report["fp32_layers"] = [name for name in layers if f"{name}.weight" in report["fp32_weights_kept"]]
    report["int8_layers"] = [name for name in layers if name not in report["fp32_layers"]]
    report["tensor_bytes"] = sum(tensor.nbytes for tensor in converted.state_dict().values())
    program = program_bytes(torch.export.export(converted, example, dynamic_shapes=dynamic_batch()))
    return QuantizedModule(program, report, dynamic_shapes)


def fallback_plans(layers: Sequence[str]) -> list[QuantizationPlan]:
    """The search's configurations, most aggressive first: everything INT8, then the first and last
    layers (the most sensitive to rounding) kept in FP32."""
    plans = [QuantizationPlan("static"), QuantizationPlan("dynamic", "per_tensor")]
    if len(layers) > 2:
        edges = (layers[0], layers[-1])
        plans += [QuantizationPlan("static", fp32_layers=edges), QuantizationPlan("dynamic", "per_tensor", edges)]
    return plans


@dataclass
class SearchResult:
    """Every configuration tried, the one kept, and why."""

    trials: list[dict] = field(default_factory=list)
    chosen: int = 0
    inc_choice: int | None = None
    meets_budget: bool = True
    reason: str = ""


def search_quantization(
    plans: Sequence[QuantizationPlan],
    build: Callable[[QuantizationPlan], QuantizedModule],
    score: Callable[[nn.Module], float],
    latency_ratio: Callable[[nn.Module], float],
    baseline_score: float,
    tolerable_loss: float,
) -> SearchResult:
    """Try every plan; keep the fastest whose relative accuracy loss is within ``tolerable_loss``.

    INC's ``autotune`` stops at the first configuration within tolerance (recorded here as
    ``inc_choice``) and returns nothing when none is; this search keeps going for a faster one, and
    when none fits keeps the most accurate, marked as not meeting the budget.
    """
    result = SearchResult()
    for index, plan in enumerate(plans):
        model = build(plan)
        accuracy = score(model)
        loss = (baseline_score - accuracy) / baseline_score if baseline_score else 0.0
        result.trials.append({
            "plan": plan.describe(), "accuracy": accuracy, "relative_loss": loss, "latency_ratio": latency_ratio(model),
            "within_budget": loss <= tolerable_loss,
        })
        if loss <= tolerable_loss and result.inc_choice is None:
            result.inc_choice = index
    within = [i for i, trial in enumerate(result.trials) if trial["within_budget"]]
    if within:
        result.chosen = min(within, key=lambda i: result.trials[i]["latency_ratio"])
        result.reason = (
            f"fastest of {len(within)} configuration(s) within {tolerable_loss:.1%} relative accuracy loss: "
            f"{result.trials[result.chosen]['plan']}"
        )
    else:
        result.chosen = max(range(len(plans)), key=lambda i: result.trials[i]["accuracy"])
        result.meets_budget = False
        best = result.trials[result.chosen]
        result.reason = (
            f"no configuration of {len(plans)} stayed within {tolerable_loss:.1%} relative accuracy loss; kept the most "
            f"accurate, {best['plan']}, which loses {best['relative_loss']:.2%}"
        )
    return result
