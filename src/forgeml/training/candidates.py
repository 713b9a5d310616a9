"""Train one candidate from its spec: a torch family through the training loop, or a reference model."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError

REFERENCE_FAMILIES = ("sklearn_logreg",)


def _split_xy(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    return frame.drop(columns=[target]).to_numpy(np.float32), frame[target].to_numpy()


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
    name: str, spec: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame, target: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """Return the fitted classifier (``predict_proba``, ``classes_``) and what to record about its training."""
    import torch

    from forgeml.models import MODEL_FAMILIES, TorchClassifier, build_model
    from forgeml.training.loop import fit, TensorBatches

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
        return _fit_reference(model_spec, x_train, y_train, seed), {"family": model_spec["family"], "device": "cpu"}

    config = _train_config(training, seed)
    x_val, y_val = _split_xy(val, target)
    classes = np.unique(y_train)
    to_index = {label: i for i, label in enumerate(classes)}
    y_train_idx = torch.as_tensor([to_index[v] for v in y_train])
    y_val_idx = torch.as_tensor([to_index[v] for v in y_val])
    x_train_t, x_val_t = torch.as_tensor(x_train), torch.as_tensor(x_val)

    torch.manual_seed(seed)
    module = build_model(
        model_spec, x_train.shape[1], len(classes), x_train_t.mean(0), x_train_t.std(0)
    )
    result = fit(
        module,
        TensorBatches(x_train_t, y_train_idx, config.batch_size, shuffle=True, seed=seed),
        TensorBatches(x_val_t, y_val_idx, max(config.batch_size, 1024)),
        config,
        description=name,
    )
    info = {
        "family": model_spec["family"],
        "history": result.history,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "device": result.device,
        "training": asdict(config),
    }
    return TorchClassifier(module, classes), info
