"""Train every candidate declared in parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.modality import modality_of
from forgeml.training import Candidate, TrainingData, train_candidate

TUNED = "tuned"


def train_candidates(
    train: pd.DataFrame, val: pd.DataFrame, tensors: dict[str, Any], best_params: dict[str, Any],
    experiment: dict[str, Any], params: dict[str, Any],
):
    """Return the fitted candidates by name, and what to record about each one's training.

    A candidate set to null is skipped. The tuned candidate, when a study ran, is the tuned one's spec
    with the best trial's overrides. Every candidate is checked before the first one trains.
    """
    from forgeml.errors import ConfigError
    from forgeml.training.candidates import candidate_spec
    from forgeml.tuning import apply_overrides

    specs = {name: candidate_spec(params, name) for name, spec in (params.get("candidates") or {}).items() if spec is not None}
    if best_params.get("candidate") is not None:
        specs[TUNED] = apply_overrides(candidate_spec(params, best_params["candidate"]), best_params["overrides"])
    if not specs:
        raise ConfigError(f"train.candidates of experiment {experiment['name']!r} is empty: declare at least one candidate.")
    data = TrainingData(modality_of(experiment), train, val, tensors)
    declared = [Candidate.declared(name, spec, data.modality, params["seed"]) for name, spec in specs.items()]
    candidates, infos = {}, {}
    for candidate in declared:
        candidates[candidate.name], infos[candidate.name] = train_candidate(candidate, data)
    return candidates, infos
