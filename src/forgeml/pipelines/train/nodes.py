"""Train every candidate declared in parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.training import train_candidate


TUNED = "tuned"


def train_candidates(
    train: pd.DataFrame, val: pd.DataFrame, best_params: dict[str, Any], experiment: dict[str, Any], params: dict[str, Any],
):
    """Return the fitted candidates by name, and what to record about each one's training.

    A candidate set to null (an experiment switching off a base candidate) is skipped. The tuned
    candidate is the tuned one's spec with the best trial's overrides.
    """
    from forgeml.training.candidates import candidate_spec
    from forgeml.tuning import apply_overrides

    specs = {name: candidate_spec(params, name) for name, spec in params["candidates"].items() if spec is not None}
    specs[TUNED] = apply_overrides(candidate_spec(params, best_params["candidate"]), best_params["overrides"])
    candidates, infos = {}, {}
    for name, spec in specs.items():
        candidates[name], infos[name] = train_candidate(
            name, spec, train, val, experiment["target"], params["seed"], experiment.get("image")
        )
    return candidates, infos


def train_text_candidates(
    train: pd.DataFrame, val: pd.DataFrame, tokens: dict[str, Any], experiment: dict[str, Any], params: dict[str, Any],
):
    """A text experiment's candidates (``bert`` on the persisted tokens, ``tfidf_logreg`` on the texts);
    base candidates set to null are skipped, as are the table families a text experiment cannot train."""
    from forgeml.training.candidates import TEXT_FAMILIES, candidate_spec, train_text_candidate

    specs = {name: candidate_spec(params, name) for name, spec in params["candidates"].items()
             if spec is not None and spec["model"]["family"] in TEXT_FAMILIES}
    if not specs:
        from forgeml.errors import ConfigError

        raise ConfigError(f"train.candidates has no text candidate (families {', '.join(TEXT_FAMILIES)}).")
    candidates, infos = {}, {}
    for name, spec in specs.items():
        candidates[name], infos[name] = train_text_candidate(name, spec, train, val, tokens, experiment, params["seed"])
    return candidates, infos
