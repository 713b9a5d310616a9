"""Evaluate every candidate on the test split: quality, calibration, robustness, size and latency.

Latency is timed with each candidate alternated call by call against the compression base (when
compression ran), so every candidate gets a ratio to the same model from the same harness.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.evaluate import (
    classification_metrics,
    confusion_matrix_figure,
    fixed_threads,
    measure_latency_side_by_side,
    measurement_environment,
    robustness_figure,
    robustness_metrics,
    serialized_size,
    tensor_bytes,
)
from forgeml.modality import modality_of


def _compression_base(compression_info: dict[str, Any]) -> str | None:
    return next((info["compression"]["base"] for info in compression_info.values()), None)


def evaluate_candidates(
    candidates: dict[str, Any], compressed_candidates: dict[str, Any], compression_info: dict[str, Any],
    test: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any],
):
    """Return the full evaluation (with confusion matrices and robustness curves), each candidate's predicted
    label for each test row (a column per candidate: the release compares candidates on the same rows), the
    flat metrics report, the confusion-matrix plots, the robustness plots, and the machine latency was
    measured on."""
    modality = modality_of(experiment)
    features = modality.inputs(test)
    labels = test[modality.target].to_numpy()
    rng = np.random.default_rng(params["seed"])
    batches = {size: features[rng.integers(0, len(features), size)] for size in params["latency_batch_sizes"]}
    candidates = {**candidates, **compressed_candidates}
    base = _compression_base(compression_info)

    evaluation, predictions, metrics, figures, robustness_figures = {}, {}, {}, {}, {}
    # every candidate scored on the threads it is timed on: a compiled (INT8) model compiles once, not per thread count
    with fixed_threads(params["latency_threads"]):
        for name, classifier in candidates.items():
            probabilities = classifier.predict_proba(features)
            classes = classifier.classes_.tolist()
            scores = classification_metrics(probabilities, labels, classifier.classes_)
            scores["size_bytes"] = serialized_size(classifier)
            scores["tensor_bytes"] = tensor_bytes(classifier)
            predicts = [classifier.predict_proba] if base in (None, name) else [candidates[base].predict_proba, classifier.predict_proba]
            for size, batch in batches.items():
                timing = measure_latency_side_by_side(predicts, batch, params["latency_repeats"], threads=params["latency_threads"])[-1]
                scores[f"latency_b{size}_p50_ms"], scores[f"latency_b{size}_p95_ms"] = timing["p50_ms"], timing["p95_ms"]
                if "ratio_p50" in timing:
                    scores[f"latency_b{size}_ratio_p50"], scores[f"latency_b{size}_ratio_p95"] = timing["ratio_p50"], timing["ratio_p95"]
            curves = modality.robustness(classifier.predict_proba, features, labels, classifier.classes_,
                                         params["robustness"]["levels"], params["robustness"]["seed"])
            scores.update(robustness_metrics(curves))
            predicted = predictions[name] = classifier.classes_[probabilities.argmax(1)]
            matrix = pd.crosstab(pd.Categorical(labels, classes), pd.Categorical(predicted, classes), dropna=False)
            evaluation[name] = {
                "metrics": scores, "classes": classes, "confusion_matrix": matrix.to_numpy().tolist(), "robustness": curves,
            }
            metrics[name] = scores
            figures[f"{name}.png"] = confusion_matrix_figure(matrix.to_numpy(), classes, name)
            robustness_figures[f"{name}.png"] = robustness_figure(curves, name)
    return (evaluation, pd.DataFrame(predictions), metrics, figures, robustness_figures,
            measurement_environment(params["latency_threads"]))
