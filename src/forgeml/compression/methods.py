"""Compression methods as a registry, in the spirit of Optuna's samplers.

``METHODS`` maps the ``method`` of a ``compress.methods`` entry to its class. Each class parses and checks
its own settings when built (so a bad setting fails in seconds, before an hour of fine-tuning), ``run``s on
a ``CompressionBase`` (the model to compress with its data), and ``describe``s what it changed for its card.
A run returns ``{candidate name: (classifier, info)}``: a method may add more than one candidate.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, ClassVar

import torch

from forgeml.checks import fraction
from forgeml.compression.distillation import DistillationLoss
from forgeml.compression.pruning import prune_structured, prune_unstructured
from forgeml.compression.quantization import (
    QuantizationPlan,
    fallback_plans,
    quantizable_layers,
    quantize,
    search_quantization,
)
from forgeml.errors import ConfigError
from forgeml.evaluate.footprint import fixed_threads, measure_latency_side_by_side
from forgeml.models import build_model, count_flops, count_parameters
from forgeml.models.build import LAYER_KEEPING_FAMILIES
from forgeml.models.program import QuantizedModule
from forgeml.training.data import TrainingData, fit_on
from forgeml.training.loop import TrainConfig

VAL_BATCH = 1024  # validation rows scored at a time
LATENCY_ROWS = 1024  # validation rows a latency comparison times: every row of the bundled experiments


def choose_base(training_info: dict[str, Any], base: str) -> str:
    """``base`` itself, or for ``best`` the torch candidate with the lowest validation loss."""
    torch_candidates = {name: info for name, info in training_info.items() if info.get("history")}
    if base != "best":
        if base not in torch_candidates:
            raise ConfigError(
                f"compress.base is {base!r}, which is not a trained torch candidate "
                f"(torch candidates: {', '.join(torch_candidates) or 'none'})."
            )
        return base
    if not torch_candidates:
        raise ConfigError("compress needs at least one torch candidate in train.candidates; it has none.")
    return min(torch_candidates, key=lambda n: torch_candidates[n]["history"]["val_loss"][torch_candidates[n]["best_epoch"]])


class CompressionBase:
    """What every method works on: the base candidate, its data as tensors, its modality, and how to fine-tune.

    INT8 models are built once per plan here, so a search reuses the fixed-mode methods' models.
    """

    def __init__(self, name: str, classifier, info: dict[str, Any], data, modality, seed: int, params: dict[str, Any]):
        self.name, self.classifier, self.info, self.data, self.modality = name, classifier, info, data, modality
        self.seed, self.params = seed, params
        self.quantization = params.get("quantization") or {}
        self.quantized = cache(self._quantize)

    def config(self, overrides: dict[str, Any] | None):
        """The base's training options with ``overrides``."""
        options = {**self.info["training"], **(overrides or {})}
        options.pop("seed", None)
        return TrainConfig.from_options(options, self.seed)

    def augmentation(self):
        """The base's own policy: pruned models fine-tune and students learn on the inputs the base learned on."""
        return self.modality.augmentation(self.info.get("augmentation"), self.data.shape, self.seed)

    def fit(self, module, overrides: dict[str, Any] | None, description: str, **options):
        return fit_on(module.to(self.data.device), self.data, self.config(overrides), description=description,
                      augment=self.augmentation(), **options)

    def fine_tune(self, name: str):
        return lambda module: self.fit(module, self.params.get("fine_tune"), f"{name} fine-tune")

    def copy_of_base(self):
        return copy.deepcopy(self.classifier.module).to(self.data.device)

    def module_input(self, inputs):
        return self.modality.module_input(inputs).cpu()

    def val_accuracy(self, module) -> float:
        correct = 0
        with torch.no_grad():
            for inputs, labels in self.data.val.batches(VAL_BATCH):
                correct += int((module(self.module_input(inputs)).argmax(1) == labels.cpu()).sum())
        return correct / self.data.val.rows

    def _quantize(self, plan):
        calibration = self.module_input(self.data.train.head(int(self.quantization.get("calibration_rows", 512))))
        return quantize(self.classifier.module, plan, calibration, dynamic_shapes=self.modality.int8_any_batch)

    @property
    def search_threads(self) -> int:
        return int(self.quantization.get("threads", 1))

    def latency_ratio(self, model) -> float:
        """``model``'s latency over the base's, alternated call by call on the first ``LATENCY_ROWS`` validation rows
        (one shape, one compile)."""
        timings = measure_latency_side_by_side(
            [self.classifier.module, model], self.module_input(self.data.val.head(LATENCY_ROWS)),
            pairs=int(self.quantization.get("search_pairs", 15)), threads=self.search_threads,
        )
        return timings[1]["ratio_p50"]

    def candidate(self, module, extra: dict[str, Any], model: dict[str, Any] | None = None, history=None):
        """The candidate and what to record about it, in the shape the training stage records."""
        module = module.cpu().eval()
        # Quantization keeps the base's structure: same parameters and FLOPs (no weights left to count here).
        same_structure = isinstance(module, QuantizedModule)
        info = {
            "family": (model or self.info["model"])["family"], "model": model or self.info["model"],
            "training": self.info["training"], "augmentation": self.info.get("augmentation") or {},
            "history": history or {}, "device": str(self.data.device),
            "parameters": self.info["parameters"] if same_structure else count_parameters(module),
            "flops": self.info["flops"] if same_structure else count_flops(module, self.data.shape),
            "compression": {"base": self.name, "base_model": self.info["model"], "base_parameters": self.info["parameters"],
                            "base_flops": self.info["flops"], **extra},
        }
        return self.modality.classifier(module, self.classifier.classes_), info


def compression_base(name: str, classifier, info: dict[str, Any], data: TrainingData, seed: int,
                     params: dict[str, Any]) -> CompressionBase:
    """The base ``name`` with its splits on the device it trained on."""
    training = {option: value for option, value in info["training"].items() if option != "seed"}
    splits = data.on(TrainConfig.from_options(training, seed))
    return CompressionBase(name, classifier, info, splits, data.modality, seed, params)


def recompress(classifier, info: dict[str, Any], settings: dict[str, Any], name: str, data: TrainingData, seed: int,
               params: dict[str, Any]):
    """``classifier`` (freshly trained) compressed as a registered candidate was: its method and settings
    (``compression.settings``), run on the new base. Returns the compressed candidate ``name`` and its record."""
    (method,) = parse_methods({name: settings}, data.modality.compression_methods, quantizable_layers(classifier.module))
    base = compression_base(f"{name}_base", classifier, info, data, seed, params)
    return method.run(base)[name]


class Method:
    """One entry of ``compress.methods``: ``Method(name, settings, layers)`` checks the settings."""

    labels: ClassVar[tuple[str, ...]]  # the ``compression.method`` its candidates record

    def __init__(self, name: str, settings: dict[str, Any], layers: list[str]):
        self.name, self.settings = name, settings

    def produces(self) -> list[str]:
        return [self.name]

    def run(self, base: CompressionBase) -> dict[str, tuple[Any, dict[str, Any]]]:
        raise NotImplementedError

    @staticmethod
    def describe(compression: dict[str, Any]) -> list[str]:
        """What changed, for the candidate's compression card."""
        raise NotImplementedError


def _steps(name: str, settings: dict[str, Any], default: int) -> int:
    steps = int(settings.get("steps", default))
    if steps < 1:
        raise ConfigError(f"compress.methods.{name}.steps must be 1 or more.")
    return steps


class UnstructuredPruning(Method):
    """Global magnitude pruning to ``sparsity`` zeros, in ``steps`` with fine-tuning between them."""

    labels = ("unstructured pruning",)

    def __init__(self, name, settings, layers):
        super().__init__(name, settings, layers)
        self.sparsity = fraction(settings.get("sparsity"), f"compress.methods.{name}.sparsity")
        self.steps = _steps(name, settings, 3)

    def run(self, base):
        module = base.copy_of_base()
        layers = prune_unstructured(module, self.sparsity, self.steps, base.fine_tune(self.name))
        return {self.name: base.candidate(module, {"method": self.labels[0], "settings": self.settings, "sparsity": layers})}

    @staticmethod
    def describe(compression):
        layers = {k: v for k, v in compression["sparsity"].items() if k != "overall"}
        return [f"Overall weight sparsity: {compression['sparsity']['overall']:.1%}. Per layer: "
                + ", ".join(f"`{k}` {v:.0%}" for k, v in layers.items()) + ".",
                "Zeros do not make dense kernels faster: expect the latency ratio near 1."]


class StructuredPruning(Method):
    """``channel_ratio`` of channels and hidden units removed with torch-pruning, in ``steps``."""

    labels = ("structured pruning",)

    def __init__(self, name, settings, layers):
        super().__init__(name, settings, layers)
        self.channel_ratio = fraction(settings.get("channel_ratio"), f"compress.methods.{name}.channel_ratio")
        self.steps = _steps(name, settings, 2)

    def run(self, base):
        module = base.copy_of_base()
        report = prune_structured(module, base.data.train.head(2), self.channel_ratio, self.steps, base.fine_tune(self.name))
        return {self.name: base.candidate(module, {"method": self.labels[0], "settings": self.settings, **report})}

    @staticmethod
    def describe(compression):
        return [f"Parameters {compression['parameters_before']:,} -> {compression['parameters_after']:,} "
                "(whole channels and hidden units removed with torch-pruning's dependency graph)."]


class Int8(Method):
    """Intel Neural Compressor INT8: one plan (``mode`` static or dynamic), or ``mode: search`` over ``plans``
    (default: everything INT8, then the edge layers in FP32), keeping the fastest within ``tolerable_loss``."""

    labels = ("int8",)

    def __init__(self, name, settings, layers):
        super().__init__(name, settings, layers)
        self.search = settings.get("mode") == "search"
        if self.search:
            self.plans = [QuantizationPlan.from_params(p) for p in settings.get("plans") or []] or fallback_plans(layers)
            self.tolerable_loss = fraction(settings.get("tolerable_loss"), f"compress.methods.{name}.tolerable_loss")
        else:
            self.plans = [QuantizationPlan.from_params(settings)]
        for plan in self.plans:
            plan.check(layers)

    def run(self, base):
        extra = {"method": "int8", "settings": self.settings}
        chosen = self.plans[0]
        if self.search:
            with fixed_threads(base.search_threads):  # each plan scored on the threads it is timed on: one compile each
                search = search_quantization(self.plans, base.quantized, base.val_accuracy, base.latency_ratio,
                                             base.val_accuracy(base.classifier.module), self.tolerable_loss)
            chosen = self.plans[search.chosen]
            extra["search"] = {"trials": search.trials, "chosen": search.chosen, "inc_choice": search.inc_choice,
                               "meets_budget": search.meets_budget, "reason": search.reason}
        model = base.quantized(chosen)
        return {self.name: base.candidate(model, {**extra, "plan": chosen.describe(), **model.report})}

    @staticmethod
    def describe(compression):
        ratio = compression["quantized_int8_bytes"] / compression["quantized_fp32_bytes"] if compression["quantized_fp32_bytes"] else None
        lines = [
            f"Configuration: {compression['plan']}.",
            f"INT8 layers: {', '.join(f'`{n}`' for n in compression['int8_layers']) or 'none'}; "
            f"left in FP32: {', '.join(f'`{n}`' for n in compression['fp32_layers']) or 'none'}.",
            f"Quantized layers' weights: {compression['quantized_fp32_bytes']:,} B in FP32 -> "
            f"{compression['quantized_int8_bytes']:,} B in INT8 with scales ({f'{ratio:.2f}x' if ratio else 'n/a'}).",
        ]
        search = compression.get("search")
        if search:
            lines.append(f"Accuracy-aware search: {search['reason']}."
                         + ("" if search["meets_budget"] else " **This model does not meet the accuracy budget.**"))
            inc = search["inc_choice"]
            lines.append("INC's own autotune would have stopped at: "
                         + (search["trials"][inc]["plan"] if inc is not None else "nothing (no configuration within tolerance)") + ".")
            lines.append("\n| configuration | val accuracy | relative loss | latency ratio (val batch) | within budget |\n|---|---|---|---|---|")
            lines += [f"| {t['plan']} | {t['accuracy']:.4f} | {t['relative_loss']:+.2%} | {t['latency_ratio']:.2f} | "
                      f"{'yes' if t['within_budget'] else 'no'} |" for t in search["trials"]]
        return lines


class Distillation(Method):
    """A smaller ``student`` taught by the base (alpha·T²·KL + (1−alpha)·CE), and with ``compare_without_teacher``
    the same student trained alone from the same seed, as ``<name>_without_teacher``: the gap is the teacher's worth.
    A ``bert`` student ``from_base`` starts from the teacher's own weights, keeping the encoder ``layers`` listed."""

    labels = ("distillation", "student without teacher")

    def __init__(self, name, settings, layers):
        super().__init__(name, settings, layers)
        self.student_spec = settings.get("student") or {}
        if not self.student_spec.get("family"):
            raise ConfigError(f"compress.methods.{name}.student needs a model `family` (and its options).")
        if self.student_spec.get("from_base") and not (self.student_spec["family"] in LAYER_KEEPING_FAMILIES
                                                       and self.student_spec.get("layers")):
            raise ConfigError(f"compress.methods.{name}.student: `from_base` takes a student of a family that keeps some "
                              f"of its base's layers ({', '.join(LAYER_KEEPING_FAMILIES)}) and the `layers` it keeps, "
                              "e.g. {family: bert, from_base: true, layers: [0, 2, 4]}.")
        self.compare = settings.get("compare_without_teacher", True)

    def produces(self):
        return [self.name, f"{self.name}_without_teacher"] if self.compare else [self.name]

    def student(self, base: CompressionBase):
        """A fresh student module and its model spec."""
        if self.student_spec.get("from_base"):
            module, model = base.copy_of_base(), {**base.info["model"], "layers": list(self.student_spec["layers"])}
            module.keep_layers(model["layers"])
            module.blueprint = module.blueprint.with_config(model)
            return module, model
        student = build_model(self.student_spec, base.data.shape, len(base.data.classes),
                              base.modality.input_layers(base.data.train.moments()))
        return student.to(base.data.device), self.student_spec

    def run(self, base):
        teacher = base.copy_of_base()
        variants = {self.name: DistillationLoss(teacher, self.settings.get("temperature", 4.0), self.settings.get("alpha", 0.7))}
        if self.compare:
            variants[f"{self.name}_without_teacher"] = None
        teacher_accuracy = base.val_accuracy(base.classifier.module)
        results = {}
        for variant, loss_fn in variants.items():
            torch.manual_seed(base.seed)
            student, model = self.student(base)
            fit = base.fit(student, self.settings.get("training"), variant, loss_fn=loss_fn)
            extra = {"method": self.labels[0] if loss_fn else self.labels[1], "settings": self.settings,
                     "teacher_val_accuracy": teacher_accuracy, "student_val_accuracy": base.val_accuracy(student.cpu())}
            results[variant] = base.candidate(student, extra, model=model, history=fit.history)
        return results

    @staticmethod
    def describe(compression):
        return [f"Validation accuracy: teacher {compression['teacher_val_accuracy']:.4f}, this student "
                f"{compression['student_val_accuracy']:.4f}.",
                f"Student: {compression['settings']['student']}; temperature {compression['settings'].get('temperature')}, "
                f"teacher's weight {compression['settings'].get('alpha')}."]


METHODS: dict[str, type[Method]] = {
    "unstructured": UnstructuredPruning, "structured": StructuredPruning, "int8": Int8, "distillation": Distillation,
}
DESCRIBED_BY = {label: method for method in METHODS.values() for label in method.labels}


def parse_methods(methods: dict[str, Any], allowed: tuple[str, ...], layers: list[str]) -> list[Method]:
    """Every switched-on entry of ``compress.methods`` as its method object; ``allowed``: what the modality takes."""
    parsed = []
    for name, settings in (methods or {}).items():
        if not settings:
            continue
        method = settings.get("method")
        if method not in allowed:
            raise ConfigError(
                f"compress.methods.{name}.method is {method!r}; choose one of {', '.join(allowed)}"
                + (" (this experiment's models are not pruned)." if method in METHODS else ".")
            )
        parsed.append(METHODS[method](name, settings, layers))
    return parsed
