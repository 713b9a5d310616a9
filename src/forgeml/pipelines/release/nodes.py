"""Register every candidate, name the best one challenger, and promote it only past the gate."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.registry import choose_challenger, decide_promotion
from forgeml.registry.promotion import ChoiceRule, constraint_failures
from forgeml.registry.tracking import alias_version, champion_version, predict_with_version, tag_active_run

LABEL_METRICS = ("accuracy", "f1_macro")


def choose_run_challenger(
    evaluation: dict[str, Any], test_predictions: pd.DataFrame, compression_info: dict[str, Any], test: pd.DataFrame,
    splits_validation: dict[str, Any], experiment: dict[str, Any], params: dict[str, Any], latency_batch_sizes: list[int],
) -> dict[str, Any]:
    """Which of the run's candidates challenges the champion, and why (forgeml.registry.promotion's
    ``choose_challenger``): the constraints each breaks (a compressed one, of those in ``compression_info``,
    may not be slower than its base), its score and cost, and McNemar's test of the best against it on the
    evaluate stage's test predictions."""
    from forgeml.errors import ConfigError

    metric, rule = params["primary_metric"], ChoiceRule.from_release(params, latency_batch_sizes)
    if metric not in LABEL_METRICS:
        raise ConfigError(f"release.primary_metric must be one of {', '.join(LABEL_METRICS)}, not {metric!r}.")
    labels = test[experiment["target"]].to_numpy()
    metrics = {name: entry["metrics"] for name, entry in evaluation.items()}
    constraints, validated = params.get("constraints") or {}, bool(splits_validation["success"])
    choice = choose_challenger(
        {name: m[metric] for name, m in metrics.items()}, {name: m[rule.cost] for name, m in metrics.items()},
        {name: test_predictions[name].to_numpy() == labels for name in metrics},
        {name: constraint_failures(m, constraints, validated, name in compression_info) for name, m in metrics.items()},
        rule,
    )
    return {"primary_metric": metric, **choice}


def register_candidates(
    candidates: dict[str, Any], compressed_candidates: dict[str, Any], training_info: dict[str, Any],
    compression_info: dict[str, Any], compression_cards: dict[str, Any], evaluation: dict[str, Any],
    challenger_choice: dict[str, Any], confusion_matrices: dict[str, Any], robustness_curves: dict[str, Any],
    train: pd.DataFrame, test: pd.DataFrame, data_validation: dict[str, Any], experiment: dict[str, Any],
    release: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Log each candidate, trained or compressed, register it and attach its model card (with the repeated
    inputs the data validation counted, and whether it may be released and was chosen to challenge: the
    ``challenger_choice``; a version tag ``forgeml.eligible`` says it too). Each run keeps a sample of the
    statistics drift is measured on, as the candidate's training data had them (forgeml.data.drift), for
    `forgeml retrain` to compare against.

    Its run gets the evaluate stage's plots of it (``confusion_matrices``, ``robustness_curves``:
    ``<candidate>.png`` -> the image that stage wrote, or its figure in memory), a grid of augmented training inputs when it trained with
    augmentation, and its compression card when it is compressed."""
    from forgeml.data.drift import REFERENCE_ARTIFACT, reference_sample
    from forgeml.modality import modality_of
    from forgeml.registry.model_card import model_card
    from forgeml.registry.tracking import ELIGIBLE, attach_card, log_candidate, pipeline_lineage, register_candidate

    modality, model_name = modality_of(experiment), experiment["name"]
    lineage, parent_run_id = pipeline_lineage()
    drift_reference = reference_sample(modality.drift_statistics(train)).to_csv(index=False)
    example = modality.served_input(test.head(5))
    infos = {**training_info, **compression_info}
    registrations = {}
    for name, classifier in {**candidates, **compressed_candidates}.items():
        pictures = {artifact: _loaded(plots[f"{name}.png"]) for artifact, plots in
                    (("confusion_matrix.png", confusion_matrices), ("robustness.png", robustness_curves))
                    if f"{name}.png" in plots}
        preview = modality.augmentation_preview(train, infos[name].get("augmentation"))
        if preview is not None:
            pictures["augmentation.png"] = preview
        card = compression_cards.get(f"{name}.md")
        texts = {REFERENCE_ARTIFACT: drift_reference, **({"compression_card.md": _loaded(card)} if card else {})}
        run_id, model_uri = log_candidate(name, classifier, infos[name], evaluation[name]["metrics"], example, modality,
                                          lineage, pictures, texts)
        eligible = challenger_choice["candidates"][name]["eligible"]
        version = register_candidate(model_name, model_uri, name, {**lineage, ELIGIBLE: str(eligible).lower()})
        attach_card(model_name, version, run_id, model_card(
            model_name, version, name, infos[name], evaluation[name]["metrics"], lineage, run_id, parent_run_id,
            **release["model_card"], duplicates=data_validation.get("duplicates"), choice=challenger_choice,
            request=modality.serving_model(classifier, example).request_example(),
        ))
        registrations[name] = {"run_id": run_id, "version": version, "model_uri": f"models:/{model_name}/{version}"}
    return registrations


def _loaded(entry):
    """A partition of a PartitionedDataset is loaded on demand; what another node passed in memory is as it is."""
    return entry() if callable(entry) else entry


def report_compression(
    compression_info: dict[str, Any], metrics: dict[str, Any], challenger_choice: dict[str, Any],
    environment: dict[str, Any], params: dict[str, Any],
):
    """A card per compressed candidate (plus an index), and the report (table and Pareto plot) over
    every candidate, also logged on the pipeline's run, where reviewers look first. Both say which
    candidates may not be released and why (a compressed one slower than its base, say)."""
    import mlflow

    from forgeml.compression.cards import compression_card, compression_report

    large_batch = max(params["latency_batch_sizes"])
    failures = {name: entry["failures"] for name, entry in challenger_choice["candidates"].items()}
    cards = {f"{name}.md": compression_card(name, info, metrics, environment, large_batch, failures[name])
             for name, info in compression_info.items()}
    cards["index.md"] = "# Compression cards\n\n" + (
        "\n".join(f"- [{name}]({name}.md)" for name in compression_info) or "No compression method ran (compress.methods is empty)."
    ) + "\n"
    report, figure = compression_report(metrics, compression_info, large_batch, failures)
    if mlflow.active_run() is not None:
        mlflow.log_text(report, "compression/report.md")
        mlflow.log_figure(figure, "compression/pareto.png")
    return cards, report, figure


def _label_score(metric: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(labels, predicted))
    return float(f1_score(labels, predicted, average="macro"))


def promote_challenger(
    registrations: dict[str, dict[str, str]], challenger_choice: dict[str, Any], test: pd.DataFrame,
    experiment: dict[str, Any], params: dict[str, Any],
) -> dict[str, Any]:
    """Under the registry lock, complete any move a crash left half done, score the chosen challenger and the champion from
    their registered models on the same test split, run the gate (forgeml.registry.promotion), and move the
    aliases it decided as one crash-consistent move (forgeml.registry.moves), its records in the audit log.

    Whatever stops the release (a store that cannot be read, a lock held too long) is recorded in the audit
    log too, with what had happened: nothing moved, or a move that the next reconcile completes."""
    from forgeml.errors import ForgeMLError, RegistryError
    from forgeml.registry.audit import append_records
    from forgeml.registry.moves import actor, carry_out, reconcile, registry_lock

    audit_log, model_name = Path(params["audit_log"]), experiment["name"]
    moving = False
    try:
        with registry_lock(model_name, params["lock_timeout_s"]):
            reconcile(model_name, audit_log)
            promotion, moves, records = _decide(registrations, challenger_choice, test, experiment, params)
            moving = True
            carry_out(model_name, moves, records, audit_log)
    except Exception as error:
        why = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"  # a store's first line; not its SQL
        done = ("the decided move was under way: `forgeml reconcile` (which every release, retrain, promotion and "
                "rollback runs first) completes it" if moving else "no alias was moved")
        append_records(audit_log, [{
            "event": "release stopped", "model": model_name, "by": actor(),
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "reason": why, "outcome": done,
        }])
        if isinstance(error, ForgeMLError) or not _is_store_error(error):
            raise
        raise RegistryError(f"The model registry failed during the release of {model_name!r} "
                            f"({why}); {done}. The audit log {audit_log} records it.") from error
    tag_active_run({
        "forgeml.promotion.challenger": f"{promotion['challenger']['candidate']} (version {promotion['challenger']['version']})",
        "forgeml.promotion.promoted": promotion["promoted"],
        "forgeml.promotion.rule": promotion["rule"],
        "forgeml.promotion.reason": promotion["reason"],
    })
    return promotion


def _is_store_error(error: Exception) -> bool:
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(error, (MlflowException, SQLAlchemyError, OSError, ConnectionError))


def _decide(registrations, choice, test, experiment, params):
    """The gate's decision, the alias moves it calls for, and their audit records (the gate's first)."""
    from forgeml.registry.moves import actor, plan_move
    from forgeml.modality import modality_of
    from forgeml.registry.promotion import mcnemar_p_value

    metric, modality = choice["primary_metric"], modality_of(experiment)
    model_name = experiment["name"]
    features, labels = modality.served_input(test), test[modality.target].to_numpy()

    challenger = choice["challenger"]
    version = registrations[challenger]["version"]
    challenger_predicted = predict_with_version(model_name, version, features)
    challenger_score = _label_score(metric, labels, challenger_predicted)
    champion = champion_version(model_name)
    champion_score, p_value = None, None
    if champion is not None:
        champion_predicted = predict_with_version(model_name, champion, features)
        champion_score = _label_score(metric, labels, champion_predicted)
        p_value = mcnemar_p_value(challenger_predicted == labels, champion_predicted == labels)
    failures = choice["candidates"][challenger]["failures"]
    decision = decide_promotion(challenger_score, champion_score, params["min_improvement"], metric,
                                p_value if p_value is not None else 0.0, params["significance"], failures)
    by = actor()
    planned = [plan_move(model_name, "challenger", version, alias_version(model_name, "challenger"),
                         choice["reason"], f"release.choice {choice['choice']}", by)]
    if decision["promote"]:
        planned.append(plan_move(model_name, "champion", version, champion, decision["reason"], decision["rule"], by))
    moves, move_records = [move for move, _ in planned], [record for _, record in planned]
    gate = {
        "event": "gate", "model": model_name, "version": version, "candidate": challenger, "champion": champion,
        "promoted": decision["promote"], "rule": decision["rule"], "reason": decision["reason"], "p_value": p_value,
        "choice": choice["reason"], "within_noise": choice["within_noise"], "by": by, "at": move_records[0]["at"],
    }
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
        "choice": {key: value for key, value in choice.items() if key not in ("primary_metric", "challenger")},
        "alias_moves": move_records,
        "registered": registrations,
    }
    return promotion, moves, [gate, *move_records]
