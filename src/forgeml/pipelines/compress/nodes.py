"""Compress the base candidate (the best so far, by validation loss) with every method in parameters.

Every method's settings are checked before the first one runs, so a bad setting fails in seconds,
not after an hour of fine-tuning.
"""

from __future__ import annotations

import copy
import time
from functools import cache
from typing import Any

import pandas as pd

from forgeml.errors import ConfigError

METHODS = ("unstructured", "structured", "int8", "distillation")
TEXT_METHODS = ("int8", "distillation")  # BERT: INT8 and a student with fewer of the teacher's layers


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


def _check(name: str, spec: dict[str, Any], layers: list[str], text: bool) -> None:
    from forgeml.compression.pruning import check_fraction
    from forgeml.compression.quantization import QuantizationPlan

    method = spec.get("method")
    known = TEXT_METHODS if text else METHODS
    if method not in known:
        raise ConfigError(
            f"compress.methods.{name}.method is {method!r}; choose one of {', '.join(known)}"
            + (" (a text experiment's BERT is not pruned)." if text and method in METHODS else ".")
        )
    if method == "unstructured":
        check_fraction(spec.get("sparsity"), f"compress.methods.{name}.sparsity")
    elif method == "structured":
        check_fraction(spec.get("channel_ratio"), f"compress.methods.{name}.channel_ratio")
    elif method == "int8":
        if spec.get("mode") == "search":
            for plan in spec.get("plans") or []:
                QuantizationPlan.from_params(plan).check(layers)
            check_fraction(spec.get("tolerable_loss"), f"compress.methods.{name}.tolerable_loss")
        else:
            QuantizationPlan.from_params(spec).check(layers)
    elif method == "distillation":
        student = spec.get("student") or {}
        if not student.get("family"):
            raise ConfigError(f"compress.methods.{name}.student needs a model `family` (and its options).")
        if student.get("from_base") and not (student["family"] == "bert" and student.get("layers")):
            raise ConfigError(f"compress.methods.{name}.student: `from_base` takes a `bert` student and the base's "
                              "encoder `layers` it keeps, e.g. {family: bert, from_base: true, layers: [0, 2, 4]}.")
    if method in ("unstructured", "structured") and int(spec.get("steps", 1)) < 1:
        raise ConfigError(f"compress.methods.{name}.steps must be 1 or more.")


class Compressor:
    """What every method needs: the base model, the data as tensors, and how to fine-tune.

    A text experiment's base is a ``TextClassifier``: its inputs are token tensors, and every
    candidate made from it carries its tokenizer.
    """

    def __init__(self, base: str, classifier, info: dict[str, Any], data, train_params: dict[str, Any], params: dict[str, Any]):
        self.base, self.classifier, self.info, self.data, self.params = base, classifier, info, data, params
        self.seed = train_params["seed"]
        self.base_training = info["training"]
        self.takes_text = getattr(classifier, "takes_text", False)

    def config(self, overrides: dict[str, Any]):
        from forgeml.training.candidates import _train_config

        options = {**self.base_training, **(overrides or {})}
        options.pop("seed", None)
        return _train_config(options, self.seed)

    def augmentation(self):
        """The base's augmentation policy, built for the data: pruned models fine-tune and students learn
        on the inputs the base learned on (a teacher's knowledge transfers best on those)."""
        from forgeml.data.augmentation import build_augmentation
        from forgeml.text import TokenAugmentation

        policy = self.info.get("augmentation")
        if not policy:
            return None
        if self.takes_text:
            return TokenAugmentation.for_tokenizer(policy, self.classifier.tokenizer, self.seed)
        return build_augmentation(policy, self.data.shape[1:])

    def fine_tune(self, name: str):
        from forgeml.training.candidates import fit_on

        config = self.config(self.params.get("fine_tune"))
        return lambda module: fit_on(module.to(self.data.device), self.data, config, description=f"{name} fine-tune",
                                     augment=self.augmentation())

    def copy_of_base(self):
        return copy.deepcopy(self.classifier.module).to(self.data.device)

    def model_input(self, inputs):
        """Inputs as the registered modules receive them: token tensors as they are, flat pixel rows for
        images (image models reshape them themselves; an exported INT8 model accepts only the rank it was
        exported with)."""
        return inputs.cpu() if self.takes_text else inputs.flatten(1).cpu()

    def val_accuracy(self, module) -> float:
        import torch

        with torch.no_grad():
            predicted = module(self.model_input(self.data.x_val)).argmax(1)
        return float((predicted == self.data.y_val.cpu()).float().mean())

    def student(self, spec: dict[str, Any]):
        """A fresh student and its model spec: built from ``spec``, or (``from_base``) the base's own BERT
        cut to the encoder ``layers`` it keeps, which starts the student from the teacher's weights."""
        from forgeml.models import build_model

        if spec.get("from_base"):
            module = self.copy_of_base()
            module.keep_layers(spec["layers"])
            return module, {**self.info["model"], "layers": list(spec["layers"])}
        stats = () if self.takes_text else self.data.input_stats()
        return build_model(spec, self.data.shape, len(self.data.classes), *stats).to(self.data.device), spec

    def candidate(self, module, extra: dict[str, Any], model: dict[str, Any] | None = None, history=None):
        """The candidate and what to record about it, in the shape the training stage records."""
        from forgeml.compression import QuantizedModule
        from forgeml.models import TextClassifier, TorchClassifier, count_flops, count_parameters

        module = module.cpu().eval()
        # Quantization keeps the base's structure: same parameters and FLOPs (no weights left to count here).
        same_structure = isinstance(module, QuantizedModule)
        info = {
            "family": (model or self.info["model"])["family"], "model": model or self.info["model"],
            "training": self.base_training, "augmentation": self.info.get("augmentation") or {},
            "history": history or {}, "device": str(self.data.device),
            "parameters": self.info["parameters"] if same_structure else count_parameters(module),
            "flops": self.info["flops"] if same_structure else count_flops(module, self.data.shape),
            "compression": {"base": self.base, "base_parameters": self.info["parameters"], "base_flops": self.info["flops"],
                            **extra},
        }
        if self.takes_text:
            base = self.classifier
            return TextClassifier(module, base.classes_, base.tokenizer, base.max_length, base.head_tokens), info
        return TorchClassifier(module, self.data.classes), info


def _unstructured(name, spec, compressor: Compressor):
    from forgeml.compression import prune_unstructured

    module = compressor.copy_of_base()
    layers = prune_unstructured(module, spec["sparsity"], int(spec.get("steps", 3)), compressor.fine_tune(name))
    return {name: compressor.candidate(module, {"method": "unstructured pruning", "settings": spec, "sparsity": layers})}


def _structured(name, spec, compressor: Compressor):
    from forgeml.compression import prune_structured

    module = compressor.copy_of_base()
    report = prune_structured(module, compressor.data.x_train[:2], spec["channel_ratio"], int(spec.get("steps", 2)),
                              compressor.fine_tune(name))
    return {name: compressor.candidate(module, {"method": "structured pruning", "settings": spec, **report})}


def _distillation(name, spec, compressor: Compressor):
    """The student taught by the base, and (``compare_without_teacher``) the same student trained
    alone from the same seed, as ``<name>_without_teacher``: the gap between them is the teacher's worth."""
    import torch

    from forgeml.compression import DistillationLoss
    from forgeml.training.candidates import fit_on

    data = compressor.data
    teacher = compressor.copy_of_base()
    variants = {name: DistillationLoss(teacher, spec.get("temperature", 4.0), spec.get("alpha", 0.7))}
    if spec.get("compare_without_teacher", True):
        variants[f"{name}_without_teacher"] = None
    teacher_accuracy = compressor.val_accuracy(compressor.classifier.module)
    results = {}
    for variant, loss_fn in variants.items():
        torch.manual_seed(compressor.seed)
        student, model = compressor.student(spec["student"])
        fit = fit_on(student, data, compressor.config(spec.get("training")), loss_fn=loss_fn, description=variant,
                     augment=compressor.augmentation())
        extra = {"method": "distillation" if loss_fn else "student without teacher", "settings": spec,
                 "teacher_val_accuracy": teacher_accuracy, "student_val_accuracy": compressor.val_accuracy(student.cpu())}
        results[variant] = compressor.candidate(student, extra, model=model, history=fit.history)
    return results


def compress_candidates(
    candidates: dict[str, Any], training_info: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame,
    experiment: dict[str, Any], train_params: dict[str, Any], params: dict[str, Any],
):
    """Return the compressed candidates and what to record about each (the training record, plus
    ``compression``: method, settings, base and what changed). A method may add more than one."""
    from forgeml.training.candidates import tensor_splits

    return _compress(candidates, training_info, lambda device: tensor_splits(
        train, val, experiment["target"], experiment.get("image"), device), train_params, params)


def compress_text_candidates(
    candidates: dict[str, Any], training_info: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame,
    tokens: dict[str, Any], experiment: dict[str, Any], train_params: dict[str, Any], params: dict[str, Any],
):
    """``compress_candidates`` for a text experiment: the base is a BERT candidate, the data its tokens."""
    from forgeml.training.candidates import token_splits

    return _compress(candidates, training_info, lambda device: token_splits(train, val, tokens, experiment["target"], device),
                     train_params, params)


def _compress(candidates, training_info, splits_on, train_params, params):
    from forgeml.compression.quantization import quantizable_layers
    from forgeml.training.loop import resolve_device

    methods = {name: spec for name, spec in (params.get("methods") or {}).items() if spec}
    if not methods:
        return {}, {}
    base = choose_base(training_info, params.get("base", "best"))
    layers = quantizable_layers(candidates[base].module)
    for name, spec in methods.items():
        _check(name, spec, layers, text=getattr(candidates[base], "takes_text", False))
    clash = {*methods, *(f"{n}_without_teacher" for n, s in methods.items() if s["method"] == "distillation")} & set(candidates)
    if clash:
        raise ConfigError(f"compress.methods names {sorted(clash)}, which train.candidates already uses; rename them.")

    data = splits_on(resolve_device(training_info[base]["training"].get("device", "auto")))
    compressor = Compressor(base, candidates[base], training_info[base], data, train_params, params)
    quantizer = _Quantizer(compressor, params.get("quantization") or {})
    compressed, infos = {}, {}
    for name, spec in methods.items():
        started = time.perf_counter()
        method = {"unstructured": _unstructured, "structured": _structured, "distillation": _distillation,
                  "int8": quantizer}[spec["method"]]
        for produced, (classifier, info) in method(name, spec, compressor).items():
            compressed[produced], infos[produced] = classifier, {**info, "train_seconds": round(time.perf_counter() - started, 2)}
    return compressed, infos


class _Quantizer:
    """INT8 candidates; models are built once per plan, so a search reuses the fixed-mode ones."""

    def __init__(self, compressor: Compressor, settings: dict[str, Any]):
        from forgeml.compression import quantize

        self.compressor = compressor
        self.settings = settings
        calibration = compressor.model_input(compressor.data.x_train[: int(settings.get("calibration_rows", 512))])
        # Text models are called at every batch size (the classifier's batches, latency probes): compile
        # them once for any batch rather than once per shape.
        self.build = cache(lambda plan: quantize(compressor.classifier.module, plan, calibration,
                                                 dynamic_shapes=compressor.takes_text))

    def latency_ratio(self, model) -> float:
        from forgeml.evaluate.footprint import measure_latency_side_by_side

        batch = self.compressor.model_input(self.compressor.data.x_val)  # the rows accuracy is scored on: one shape, one compile
        timings = measure_latency_side_by_side(
            [self.compressor.classifier.module, model], batch, pairs=int(self.settings.get("search_pairs", 15)),
            threads=int(self.settings.get("threads", 1)),
        )
        return timings[1]["ratio_p50"]

    def __call__(self, name, spec, compressor: Compressor):
        from forgeml.compression.quantization import QuantizationPlan, fallback_plans, quantizable_layers, search_quantization

        if spec.get("mode") != "search":
            plan = QuantizationPlan.from_params(spec)
            model = self.build(plan)
            return {name: compressor.candidate(model, {"method": "int8", "settings": spec, "plan": plan.describe(), **model.report})}
        plans = [QuantizationPlan.from_params(p) for p in spec.get("plans") or []] or fallback_plans(
            quantizable_layers(compressor.classifier.module)
        )
        search = search_quantization(
            plans, self.build, compressor.val_accuracy, self.latency_ratio,
            compressor.val_accuracy(compressor.classifier.module), float(spec["tolerable_loss"]),
        )
        model = self.build(plans[search.chosen])
        extra = {
            "method": "int8", "settings": spec, "plan": plans[search.chosen].describe(), **model.report,
            "search": {"trials": search.trials, "chosen": search.chosen, "inc_choice": search.inc_choice,
                       "meets_budget": search.meets_budget, "reason": search.reason},
        }
        return {name: compressor.candidate(model, extra)}
