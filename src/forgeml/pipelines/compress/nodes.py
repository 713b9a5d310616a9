"""Compress the base candidate (the best so far, by validation loss) with every method in parameters.

The methods are forgeml.compression.METHODS: each checks its own settings before the first one runs, so a
bad setting fails in seconds, not after an hour of fine-tuning.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from forgeml.errors import ConfigError
from forgeml.modality import modality_of
from forgeml.training.data import TrainingData


def compress_candidates(
    candidates: dict[str, Any], training_info: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame,
    tensors: dict[str, Any], experiment: dict[str, Any], train_params: dict[str, Any], params: dict[str, Any],
):
    """Return the compressed candidates and what to record about each (the training record, plus
    ``compression``: method, settings, base and what changed). A method may add more than one."""
    from forgeml.compression.methods import choose_base, compression_base, parse_methods
    from forgeml.compression.quantization import quantizable_layers

    if not any((params.get("methods") or {}).values()):
        return {}, {}
    modality = modality_of(experiment)
    name = choose_base(training_info, params.get("base", "best"))
    methods = parse_methods(params["methods"], modality.compression_methods, quantizable_layers(candidates[name].module))
    clash = {produced for method in methods for produced in method.produces()} & set(candidates)
    if clash:
        raise ConfigError(f"compress.methods names {sorted(clash)}, which train.candidates already uses; rename them.")

    base = compression_base(name, candidates[name], training_info[name], TrainingData(modality, train, val, tensors),
                            train_params["seed"], params)
    compressed, infos = {}, {}
    for method in methods:
        started = time.perf_counter()
        for produced, (classifier, info) in method.run(base).items():
            compressed[produced], infos[produced] = classifier, {**info, "train_seconds": round(time.perf_counter() - started, 2)}
    return compressed, infos
