"""Train every candidate declared in parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.training import train_candidate


def train_candidates(train: pd.DataFrame, val: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any]):
    """Return the fitted candidates by name, and what to record about each one's training.

    A candidate set to null (an experiment switching off a base candidate) is skipped.
    """
    defaults = params.get("defaults") or {}
    candidates, infos = {}, {}
    for name, spec in params["candidates"].items():
        if spec is None:
            continue
        spec = {**spec, "training": {**defaults, **(spec.get("training") or {})}}
        candidates[name], infos[name] = train_candidate(
            name, spec, train, val, experiment["target"], params["seed"], experiment.get("image")
        )
    return candidates, infos
