"""Search the space declared in parameters for the best version of one candidate."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.errors import ConfigError
from forgeml.modality import modality_of
from forgeml.training.candidates import candidate_spec
from forgeml.training.data import TrainingData
from forgeml.tuning import TuneSettings, tune_candidate

NO_STUDY = {"candidate": None, "overrides": {}}


def tune(train: pd.DataFrame, val: pd.DataFrame, tensors: dict[str, Any], experiment: dict[str, Any],
         train_params: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the best trial (its overrides become the `tuned` candidate) and the study's plots.

    The study and its trials are MLflow runs nested under this pipeline's run. With ``tune.candidate``
    null there is no study: the train stage then has no `tuned` candidate.
    """
    import mlflow

    if params.get("candidate") is None:
        return NO_STUDY, {"index.html": "<p>No tuning study: <code>tune.candidate</code> is null for this experiment.</p>"}
    options = {key: value for key, value in params.items() if key != "spaces"}
    spaces = params.get("spaces") or {}
    if params["candidate"] not in spaces:
        raise ConfigError(
            f"tune.candidate is {params['candidate']!r}, but tune.spaces declares no search space for it "
            f"(it has: {', '.join(spaces) or 'none'})."
        )
    settings = TuneSettings(**options, space=spaces[params["candidate"]])
    base = candidate_spec(train_params, settings.candidate)
    active = mlflow.active_run()
    tags = {k: v for k, v in active.data.tags.items() if k.startswith("forgeml.")} if active else {}
    data = TrainingData(modality_of(experiment), train, val, {split: tensors[split] for split in ("train", "val")})
    return tune_candidate(settings, experiment["name"], base, data, train_params["seed"], mlflow.get_tracking_uri(),
                          active.info.run_id if active else None, tags)
