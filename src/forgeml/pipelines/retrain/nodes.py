"""Retrain the champion's recipe on the current data and put the result through the release gate.

``forgeml retrain`` runs this pipeline only when the raw data changed since the champion was trained
(and under a lock); the data nodes, evaluation, registration and gate are the other pipelines' own.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.pipelines.evaluate.nodes import evaluate_candidates
from forgeml.pipelines.release.nodes import choose_run_challenger, register_candidates

RETRAINED = "retrained"


def retrain_champion_recipe(
    train: pd.DataFrame, val: pd.DataFrame, tensors: dict[str, Any], experiment: dict[str, Any], params: dict[str, Any],
    compress: dict[str, Any],
):
    """Train the champion's recipe (as registered with it) on the new splits, as candidate ``retrained``; a
    compressed champion's base is trained, then compressed again the same way (INT8 of the retrained base,
    a student distilled from it, ...)."""
    from forgeml.compression.methods import recompress
    from forgeml.modality import modality_of
    from forgeml.registry.tracking import champion_recipe
    from forgeml.training import Candidate, TrainingData, train_candidate

    version, recipe = champion_recipe(experiment["name"])
    modality = modality_of(experiment)
    spec = {key: value for key, value in recipe.items() if value and key != "compression"}
    data = TrainingData(modality, train, val, tensors)
    classifier, info = train_candidate(Candidate.declared(RETRAINED, spec, modality, params["seed"]), data)
    if recipe.get("compression"):
        classifier, info = recompress(classifier, info, recipe["compression"], RETRAINED, data, params["seed"], compress)
    return {RETRAINED: classifier}, {RETRAINED: {**info, "retrained_from": version}}


def evaluate_retrained(
    candidates: dict[str, Any], test: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """The evaluate stage's measurements, test predictions and plots of the retrained candidate, on the new test split."""
    evaluation, predictions, _, confusion_matrices, robustness_curves, _ = evaluate_candidates(
        candidates, {}, {}, test, experiment, params)
    return evaluation, predictions, confusion_matrices, robustness_curves


def choose_retrained(
    evaluation: dict[str, Any], test_predictions: pd.DataFrame, test: pd.DataFrame, splits_validation: dict[str, Any],
    experiment: dict[str, Any], release: dict[str, Any], latency_batch_sizes: list[int],
) -> dict[str, Any]:
    """The release's choice over the one retrained candidate: whether it breaks a constraint, and its cost
    (a recompressed one has no base here to be slower than)."""
    return choose_run_challenger(evaluation, test_predictions, {}, test, splits_validation, experiment, release,
                                 latency_batch_sizes)


def register_retrained(
    candidates: dict[str, Any], training_info: dict[str, Any], evaluation: dict[str, Any],
    challenger_choice: dict[str, Any], confusion_matrices: dict[str, Any], robustness_curves: dict[str, Any],
    train: pd.DataFrame, test: pd.DataFrame, data_validation: dict[str, Any], experiment: dict[str, Any],
    release: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Register the retrained candidate like any other (nothing compressed here)."""
    return register_candidates(candidates, {}, training_info, {}, {}, evaluation, challenger_choice, confusion_matrices,
                               robustness_curves, train, test, data_validation, experiment, release)
