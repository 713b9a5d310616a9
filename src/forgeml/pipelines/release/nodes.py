"""Register every candidate, name the best one challenger, and promote it only past the gate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.registry import decide_promotion, log_and_register_candidate, pick_challenger, promote
from forgeml.registry.tracking import champion_version, predict_with_version, tag_active_run

LABEL_METRICS = ("accuracy", "f1_macro")


PREVIEW_IMAGES = 8


def register_candidates(
    candidates: dict[str, Any], compressed_candidates: dict[str, Any], training_info: dict[str, Any],
    compression_info: dict[str, Any], compression_cards: dict[str, Any], evaluation: dict[str, Any],
    train: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any], release: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Log and register each candidate, trained or compressed, with its model card. One that trained
    with augmentation also gets a preview grid of augmented training images in its run; a compressed
    one, its compression card."""
    registrations = {}
    infos = {**training_info, **compression_info}
    for name, classifier in {**candidates, **compressed_candidates}.items():
        policy = infos[name].get("augmentation")
        figures = {"augmentation.png": _augmentation_preview(train, experiment, policy)} if policy and experiment.get("image") else {}
        card = compression_cards.get(f"{name}.md")
        texts = {"compression_card.md": card() if callable(card) else card} if card else {}
        registrations[name] = log_and_register_candidate(
            name, classifier, infos[name], evaluation[name], test, experiment["target"], experiment["name"],
            figures, texts, release["model_card"],
        )
    return registrations


def report_compression(
    compression_info: dict[str, Any], metrics: dict[str, Any], environment: dict[str, Any], params: dict[str, Any],
):
    """A card per compressed candidate (plus an index), and the report (table and Pareto plot) over
    every candidate, also logged on the pipeline's run, where reviewers look first."""
    import mlflow

    from forgeml.compression.cards import compression_card, compression_report

    large_batch = max(params["latency_batch_sizes"])
    cards = {f"{name}.md": compression_card(name, info, metrics, environment, large_batch)
             for name, info in compression_info.items()}
    cards["index.md"] = "# Compression cards\n\n" + (
        "\n".join(f"- [{name}]({name}.md)" for name in compression_info) or "No compression method ran (compress.methods is empty)."
    ) + "\n"
    report, figure = compression_report(metrics, compression_info, large_batch)
    if mlflow.active_run() is not None:
        mlflow.log_text(report, "compression/report.md")
        mlflow.log_figure(figure, "compression/pareto.png")
    return cards, report, figure


def _augmentation_preview(train: pd.DataFrame, experiment: dict[str, Any], policy: dict[str, Any]):
    import torch

    from forgeml.data.augmentation import build_augmentation, preview_grid
    from forgeml.training.candidates import input_shape

    pixels = train.drop(columns=[experiment["target"]]).head(PREVIEW_IMAGES).to_numpy("float32")
    shape = input_shape(pixels.shape[1], experiment.get("image"))
    return preview_grid(torch.tensor(pixels).reshape(-1, *shape), build_augmentation(policy, shape[1:]))


def _label_score(metric: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(labels, predicted))
    return float(f1_score(labels, predicted, average="macro"))


def promote_challenger(
    registrations: dict[str, dict[str, str]], evaluation: dict[str, Any], test: pd.DataFrame,
    splits_validation: dict[str, Any], experiment: dict[str, Any], params: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score challenger and champion from their registered models on the same test split, run the gate
    (forgeml.registry.promotion), and return the decision and the audit records of this release."""
    from forgeml.errors import ConfigError
    from forgeml.registry.promotion import constraint_failures, mcnemar_p_value

    metric = params["primary_metric"]
    if metric not in LABEL_METRICS:
        raise ConfigError(f"release.primary_metric must be one of {', '.join(LABEL_METRICS)}, not {metric!r}.")
    model_name, target = experiment["name"], experiment["target"]
    features, labels = test.drop(columns=[target]), test[target].to_numpy()

    challenger = pick_challenger({n: e["metrics"] for n, e in evaluation.items()}, metric)
    version = registrations[challenger]["version"]
    challenger_predicted = predict_with_version(model_name, version, features)
    challenger_score = _label_score(metric, labels, challenger_predicted)
    champion = champion_version(model_name)
    champion_score, p_value = None, None
    if champion is not None:
        champion_predicted = predict_with_version(model_name, champion, features)
        champion_score = _label_score(metric, labels, champion_predicted)
        p_value = mcnemar_p_value(challenger_predicted == labels, champion_predicted == labels)
    failures = constraint_failures(evaluation[challenger]["metrics"], params.get("constraints") or {},
                                   bool(splits_validation["success"]))
    decision = decide_promotion(challenger_score, champion_score, params["min_improvement"], metric,
                                p_value if p_value is not None else 0.0, params["significance"], failures)
    moves = [promote(model_name, version, "challenger", f"best {metric} of this run's candidates", rule="best candidate")]
    if decision["promote"]:
        moves.append(promote(model_name, version, "champion", decision["reason"], rule=decision["rule"]))
    gate = {
        "event": "gate", "model": model_name, "version": version, "candidate": challenger, "champion": champion,
        "promoted": decision["promote"], "rule": decision["rule"], "reason": decision["reason"], "p_value": p_value,
        "by": moves[0]["by"], "at": moves[0]["at"],
    }
    tag_active_run({
        "forgeml.promotion.challenger": f"{challenger} (version {version})",
        "forgeml.promotion.promoted": decision["promote"],
        "forgeml.promotion.rule": decision["rule"],
        "forgeml.promotion.reason": decision["reason"],
    })
    promotion = {
        "registered_model": model_name,
        "primary_metric": metric,
        "challenger": {"candidate": challenger, "version": version, "score": challenger_score},
        "champion_before": None if champion is None else {"version": champion, "score": champion_score},
        "champion_after": version if decision["promote"] else champion,
        "promoted": decision["promote"],
        "rule": decision["rule"],
        "p_value": p_value,
        "reason": decision["reason"],
        "alias_moves": moves,
        "registered": registrations,
    }
    return promotion, [gate, *moves]
