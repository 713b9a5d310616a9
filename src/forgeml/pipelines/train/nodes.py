"""Train every candidate declared in parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.training import train_candidate


def train_candidates(train: pd.DataFrame, val: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any]):
    """Return the fitted candidates by name, and what to record about each one's training."""
    defaults = params.get("defaults") or {}
    candidates, infos = {}, {}
    for name, spec in params["candidates"].items():
        spec = {**spec, "training": {**defaults, **(spec.get("training") or {})}}
        candidates[name], infos[name] = train_candidate(name, spec, train, val, experiment["target"], params["seed"])
    return candidates, infos
