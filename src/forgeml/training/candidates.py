"""A candidate as declared (checked once, before anything trains), and training it: a torch family through the
training loop, or a reference model."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from forgeml.errors import ConfigError
from forgeml.models import build_model, count_flops, count_parameters
from forgeml.training.data import TrainingData, fit_on
from forgeml.training.loop import TrainConfig


def candidate_spec(train_params: dict[str, Any], name: str) -> dict[str, Any]:
    """A candidate's spec with the training defaults under its own training options."""
    spec = (train_params.get("candidates") or {}).get(name)
    if not spec:
        raise ConfigError(
            f"tune.candidate is {name!r}, but train.candidates has no such candidate "
            f"(it has: {', '.join(k for k, v in (train_params.get('candidates') or {}).items() if v) or 'none'})."
        )
    return {**spec, "training": {**(train_params.get("defaults") or {}), **(spec.get("training") or {})}}


@dataclass(frozen=True)
class Candidate:
    """One candidate as conf declares it, checked: its model (``family`` and options), its training config and its
    augmentation policy. Made before anything trains, so a bad setting of any candidate fails in seconds."""

    name: str
    model: dict[str, Any]
    training: TrainConfig
    augmentation: dict[str, Any]

    @classmethod
    def declared(cls, name: str, spec: dict[str, Any], modality, seed: int) -> "Candidate":
        """``spec`` (``model``, ``training`` options, optional ``augmentation``) checked against ``modality``'s
        families and TrainConfig's options, with the run's ``seed``."""
        model = dict(spec.get("model") or {})
        modality.check_family(name, model.get("family"))
        try:
            training = TrainConfig.from_options(dict(spec.get("training") or {}), seed)
        except ConfigError as error:
            raise ConfigError(f"Candidate {name!r}: {error}") from None
        return cls(name, model, training, dict(spec.get("augmentation") or {}))


def train_candidate(candidate: Candidate, data: TrainingData, on_epoch_end=None) -> tuple[Any, dict[str, Any]]:
    """Return the fitted classifier (``predict_proba``, ``classes_``) and what to record about its training.

    ``data`` holds the splits, and its modality (forgeml.modality) builds the classifier. ``on_epoch_end(epoch,
    metrics)`` is called after every epoch (trial logging and pruning).
    """
    modality, model_spec, config, seed = data.modality, candidate.model, candidate.training, candidate.training.seed
    if model_spec["family"] in modality.references:
        return modality.fit_reference(model_spec, data.train, seed), {"family": model_spec["family"], "model": model_spec,
                                                                 "device": "cpu"}

    splits = data.on(config)
    augment = modality.augmentation(candidate.augmentation, splits.shape, seed)
    torch.manual_seed(seed)
    module = build_model(model_spec, splits.shape, len(splits.classes), modality.input_layers(splits.train.moments()))
    parameters, flops = count_parameters(module), count_flops(module.to(splits.device), splits.shape)
    started = time.perf_counter()
    result = fit_on(module, splits, config, on_epoch_end=on_epoch_end, description=candidate.name, augment=augment)
    info = {
        "family": model_spec["family"],
        "history": result.history,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "device": result.device,
        "train_seconds": round(time.perf_counter() - started, 2),
        "training": asdict(config),
        "model": model_spec,
        "augmentation": candidate.augmentation,
        "parameters": parameters,
        "flops": flops,
    }
    return modality.classifier(module, splits.classes), info
