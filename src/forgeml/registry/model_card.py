"""A model card per registered version: what a release owner reads before moving an alias."""

from __future__ import annotations

from typing import Any

HEADLINE_METRICS = ("accuracy", "f1_macro", "log_loss", "ece", "size_bytes", "latency_b1_p50_ms")


def _table(rows: dict[str, Any]) -> str:
    if not rows:
        return "(none)\n"
    lines = ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows.items())]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duplicate_rows(counts: dict[str, Any] | None) -> dict[str, Any]:
    if not counts:
        return {"repeated inputs": "not counted (data validated before ForgeML counted them)"}
    return {
        "rows validated": counts["rows"],
        "exact duplicate rows (same input, same label)": counts["exact_duplicate_rows"],
        "inputs with conflicting labels (their rows)": f"{counts['conflicting_groups']} ({counts['conflicting_rows']})",
        "rows dropped by the duplicates policy": (f"{counts['dropped']['exact']} exact + {counts['dropped']['conflicting']} "
                                                  f"conflicting (policy exact={counts['policy']['exact']}, "
                                                  f"conflicting={counts['policy']['conflicting']})"),
        "rows kept": counts["rows_kept"],
    }


def _release_choice(candidate: str, choice: dict[str, Any]) -> str:
    """Whether this candidate may be released, whether it was chosen to challenge, and every candidate's
    score and cost beside it: what the release owner weighs."""
    own = choice["candidates"][candidate]
    eligibility = ("Eligible: it breaks no release constraint." if own["eligible"] else
                   "**Not eligible**: " + "; ".join(own["failures"]) + ".")
    chosen = ("**Chosen** as this run's challenger" if candidate == choice["challenger"] else
              f"Not chosen: `{choice['challenger']}` challenges")
    rows = ["| candidate | " + choice["primary_metric"] + " | " + choice["cost"] + " | eligible | McNemar's p that "
            f"`{choice['best']}` is better | within noise of the best |", "|---|---|---|---|---|---|"]
    for name, entry in sorted(choice["candidates"].items(), key=lambda item: item[1]["cost"]):
        p = "-" if entry["p_best_better"] is None else f"{entry['p_best_better']:.3g}"
        rows.append(f"| `{name}` | {entry['score']:.4f} | {entry['cost']:.4g} | {'yes' if entry['eligible'] else 'no'} | "
                    f"{p} | {'yes' if entry['within_noise'] else ''} |")
    return (f"{eligibility}\n\n{chosen} (release.choice `{choice['choice']}`, cost `{choice['cost']}`, "
            f"significance {choice['significance']}): {choice['reason']}.\n\n" + "\n".join(rows) + "\n")


def model_card(
    registered_model: str, version: str, candidate: str, training: dict[str, Any], metrics: dict[str, float],
    lineage: dict[str, str], run_id: str, parent_run_id: str | None, intended_use: str, limitations: str,
    duplicates: dict[str, Any] | None = None, choice: dict[str, Any] | None = None, request: str | None = None,
) -> str:
    """Markdown: data version and repeated inputs (``duplicates``: forgeml.data.duplicates' counts), parameters,
    metrics, robustness, compression, whether it may be released and was chosen to challenge (``choice``:
    forgeml.registry.promotion's ``choose_challenger``), lineage, intended use and limits, and how to ask the
    served model for a label (``request``: forgeml.registry.pyfunc's ``request_example``)."""
    compression = training.get("compression") or {}
    parameters = {"family": training.get("family", "")}
    parameters.update({f"model.{k}": v for k, v in (training.get("model") or {}).items() if k != "family"})
    parameters.update({f"training.{k}": v for k, v in (training.get("training") or {}).items()})
    parameters.update({f"augmentation.{k}": v for k, v in (training.get("augmentation") or {}).items()})
    headline = {key: _number(metrics[key]) for key in HEADLINE_METRICS if key in metrics}
    robustness = {key: _number(value) for key, value in metrics.items() if key.startswith("robustness_")}
    return "\n".join([
        f"# {registered_model} version {version}: `{candidate}`",
        "",
        "## Intended use", "", intended_use.strip(), "",
        "## Limitations", "", limitations.strip(), "",
        "## Data", "",
        _table({
            "validated table": f"`{lineage.get('forgeml.data_path', 'unknown')}`",
            "DVC hash (MD5) of the table": f"`{lineage.get('forgeml.data_md5', 'unknown')}`",
            "raw data hash": f"`{lineage.get('forgeml.raw_md5', 'unknown')}`",
            **_duplicate_rows(duplicates),
        }),
        "## Metrics on the test split", "", _table(headline),
        "## Robustness (mean accuracy over the perturbation levels)", "", _table(robustness),
        "## Compression", "",
        (f"`{compression['method']}` of `{compression['base']}`, settings: `{compression.get('settings')}`\n"
         if compression else "None: a model as trained.\n"),
        "## Release", "", _release_choice(candidate, choice) if choice else "Not chosen by a release run.\n",
        *(["## Calling it", "", "Once `make serve` serves it:", "", "```bash", request, "```", ""] if request else []),
        "## Parameters", "", _table({key: f"`{value}`" for key, value in parameters.items()}),
        "## Lineage", "",
        _table({
            "git commit": f"`{lineage.get('forgeml.git_commit', 'unknown')}`"
                          + (" (uncommitted changes)" if lineage.get("forgeml.git_dirty") == "True" else ""),
            "candidate run": f"`{run_id}`",
            "pipeline run (parent)": f"`{parent_run_id}`" if parent_run_id else "none",
            "pipeline": lineage.get("forgeml.pipeline", "unknown"),
            "Kedro env": lineage.get("forgeml.env", "unknown"),
        }),
    ])
