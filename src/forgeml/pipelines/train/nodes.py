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
