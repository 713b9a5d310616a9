"""Train one candidate from its spec: a torch family through the training loop, or a reference model."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError

REFERENCE_FAMILIES = ("sklearn_logreg",)
TEXT_FAMILIES = ("bert", "tfidf_logreg")  # what a text experiment trains


def _split_xy(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    return frame.drop(columns=[target]).to_numpy(np.float32), frame[target].to_numpy()


def input_shape(n_features: int, image: dict[str, Any] | None) -> tuple[int, ...]:
    """``(n_features,)`` for a table; ``(channels, size, size)`` for an image experiment's pixel table."""
    if not image:
        return (n_features,)
    shape = (int(image["channels"]), int(image["size"]), int(image["size"]))
    if shape[0] * shape[1] * shape[2] != n_features:
        raise ConfigError(
            f"`experiment.image` says {shape[0]} channel(s) of {shape[1]}x{shape[2]} pixels, but the table has "
            f"{n_features} feature columns; re-run the data stage after changing the image size."
        )
    return shape


@dataclass
class TensorSplits:
    """The train and validation splits as tensors on the training device, labels as class indices."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    classes: np.ndarray
    shape: tuple[int, ...]
    device: Any

    def input_stats(self):
        """Mean and std of the training inputs: per channel for images, per feature for tables."""
        dims = (0, 2, 3) if len(self.shape) == 3 else (0,)
        return self.x_train.mean(dims, keepdim=True)[0], self.x_train.std(dims, keepdim=True)[0]


def _splits_on(device, x_train, x_val, train_labels, val_labels) -> TensorSplits:
    """Inputs as given, labels as indices into the sorted training classes, all on ``device``."""
    import torch

    classes = np.unique(train_labels)
    to_index = {label: i for i, label in enumerate(classes)}
    return TensorSplits(
        x_train.to(device), torch.as_tensor([to_index[v] for v in train_labels]).to(device),
        x_val.to(device), torch.as_tensor([to_index[v] for v in val_labels]).to(device),
        classes, tuple(x_train.shape[1:]), device,
    )


def tensor_splits(train: pd.DataFrame, val: pd.DataFrame, target: str, image: dict[str, Any] | None, device) -> TensorSplits:
    """Small data sets sit on the training device whole: no loader for the GPU to wait on."""
    import torch

    x_train, y_train = _split_xy(train, target)
    x_val, y_val = _split_xy(val, target)
    shape = input_shape(x_train.shape[1], image)
    return _splits_on(device, torch.tensor(x_train).reshape(-1, *shape), torch.tensor(x_val).reshape(-1, *shape),
                      y_train, y_val)


def token_splits(train: pd.DataFrame, val: pd.DataFrame, tokens: dict[str, np.ndarray], target: str, device) -> TensorSplits:
    """A text experiment's splits: the persisted token ids and masks, ``(n, 2, max_length)``."""
    import torch

    return _splits_on(device, torch.from_numpy(tokens["train"]), torch.from_numpy(tokens["val"]),
                      train[target].to_numpy(), val[target].to_numpy())


def fit_on(module, data: TensorSplits, config, **fit_options):
    """``fit`` on the splits, with the candidates' batching (a ragged last training batch dropped)."""
    from forgeml.training.loop import TensorBatches, fit

    train_batches = TensorBatches(data.x_train, data.y_train, config.batch_size, shuffle=True, seed=config.seed,
                                  drop_last=len(data.y_train) > config.batch_size)
    return fit(module, train_batches, TensorBatches(data.x_val, data.y_val, max(config.batch_size, 1024)), config,
               **fit_options)


def candidate_spec(train_params: dict[str, Any], name: str) -> dict[str, Any]:
    """A candidate's spec with the training defaults under its own training options."""
    spec = (train_params.get("candidates") or {}).get(name)
    if not spec:
        raise ConfigError(
            f"tune.candidate is {name!r}, but train.candidates has no such candidate "
            f"(it has: {', '.join(k for k, v in train_params['candidates'].items() if v)})."
        )
    return {**spec, "training": {**(train_params.get("defaults") or {}), **(spec.get("training") or {})}}


def _train_config(options: dict[str, Any], seed: int):
    from forgeml.training.loop import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"Unknown training options {unknown}; known options: {sorted(known)}.")
    return TrainConfig(**{"seed": seed, **options})


def _fit_reference(model: dict[str, Any], features: np.ndarray, labels: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    options = {key: value for key, value in model.items() if key != "family"}
    estimator = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed, **options))
    return estimator.fit(features, labels)


def train_candidate(
    name: str, spec: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame, target: str, seed: int,
    image: dict[str, Any] | None = None,
    on_epoch_end=None,
) -> tuple[Any, dict[str, Any]]:
    """Return the fitted classifier (``predict_proba``, ``classes_``) and what to record about its training.

    ``spec`` holds ``model`` (family and options), ``training`` (TrainConfig options) and, for
    image experiments (``image`` = channels and size), an optional ``augmentation`` policy.
    ``on_epoch_end(epoch, metrics)`` is called after every epoch (trial logging and pruning).
    """
    import torch

    from forgeml.data.augmentation import build_augmentation
    from forgeml.models import MODEL_FAMILIES, TorchClassifier, build_model, count_flops, count_parameters
    from forgeml.training.loop import resolve_device

    family = (spec.get("model") or {}).get("family")
    if family not in (*MODEL_FAMILIES, *REFERENCE_FAMILIES):
        raise ConfigError(
            f"Candidate {name!r} asks for model family {family!r}, which ForgeML does not know. "
            f"Known families: {', '.join((*MODEL_FAMILIES, *REFERENCE_FAMILIES))}. "
            "Fix `model.family` of that candidate in conf/base/parameters_train.yml."
        )
    model_spec, training = dict(spec["model"]), dict(spec.get("training") or {})
    x_train, y_train = _split_xy(train, target)
    if model_spec["family"] in REFERENCE_FAMILIES:
        return _fit_reference(model_spec, x_train, y_train, seed), {"family": model_spec["family"], "model": model_spec,
                                                                   "device": "cpu"}

    config = _train_config(training, seed)
    policy = spec.get("augmentation") or {}
    data = tensor_splits(train, val, target, image, resolve_device(config.device))
    if policy and len(data.shape) != 3:
        raise ConfigError(f"Candidate {name!r} has an `augmentation` policy, which needs an image experiment.")
    augment = build_augmentation(policy, data.shape[1:]) if policy else None
    mean, std = data.input_stats()

    torch.manual_seed(seed)
    module = build_model(model_spec, data.shape, len(data.classes), mean, std)
    parameters, flops = count_parameters(module), count_flops(module.to(data.device), data.shape)
    started = time.perf_counter()
    result = fit_on(module, data, config, on_epoch_end=on_epoch_end, description=name, augment=augment)
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
        "augmentation": policy,
        "parameters": parameters,
        "flops": flops,
    }
    return TorchClassifier(module, data.classes), info


def train_text_candidate(
    name: str, spec: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame, tokens: dict[str, np.ndarray],
    experiment: dict[str, Any], seed: int,
) -> tuple[Any, dict[str, Any]]:
    """A text experiment's candidate: ``tfidf_logreg`` on the raw texts, or ``bert`` on the persisted tokens."""
    import torch

    from forgeml.models import TextClassifier, build_model, count_flops, count_parameters
    from forgeml.text import TokenAugmentation, load_tokenizer
    from forgeml.text.data import fit_tfidf_logreg
    from forgeml.training.loop import resolve_device

    text, target = experiment["text"], experiment["target"]
    model_spec = dict(spec.get("model") or {})
    family = model_spec.get("family")
    if family == "tfidf_logreg":
        options = {k: v for k, v in model_spec.items() if k != "family"}
        return fit_tfidf_logreg(train[text["column"]], train[target], options, seed), {"family": family, "model": model_spec,
                                                                                        "device": "cpu"}
    if family != "bert":
        raise ConfigError(f"Candidate {name!r}: a text experiment trains `bert` or `tfidf_logreg`, not {family!r}.")
    config = _train_config(dict(spec.get("training") or {}), seed)
    data = token_splits(train, val, tokens, target, resolve_device(config.device))
    tokenizer = load_tokenizer(text["tokenizer"])
    policy = spec.get("augmentation") or {}
    augment = TokenAugmentation.for_tokenizer(policy, tokenizer, seed) if policy else None
    torch.manual_seed(seed)
    module = build_model(model_spec, data.shape, len(data.classes))
    parameters, flops = count_parameters(module), count_flops(module.to(data.device), data.shape)
    started = time.perf_counter()
    result = fit_on(module, data, config, description=name, augment=augment)
    info = {
        "family": family, "history": result.history, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "device": result.device,
        "train_seconds": round(time.perf_counter() - started, 2), "training": asdict(config), "model": model_spec,
        "augmentation": policy, "parameters": parameters, "flops": flops,
    }
    return TextClassifier(module, data.classes, tokenizer, data.shape[-1], text.get("head_tokens")), info
