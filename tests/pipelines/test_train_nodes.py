"""The train stage's node, in-process on tiny data."""

import pytest

from forgeml.errors import ConfigError
from forgeml.modality import modality_of
from forgeml.pipelines.train.nodes import train_candidates
from forgeml.pipelines.tune.nodes import NO_STUDY

EXPERIMENT = {"name": "breast_cancer", "target": "target", "modality": "table"}


def test_every_candidate_is_checked_before_the_first_one_trains(breast_cancer):
    modality = modality_of(EXPERIMENT)
    train, val, _ = modality.split(breast_cancer, 0.2, 0.15, seed=0)
    params = {"seed": 0, "defaults": {"epochs": 1, "progress": False}, "candidates": {
        # a valid config on a device that does not exist: training it would fail with torch's RuntimeError
        "first": {"model": {"family": "logreg"}, "training": {"device": "no_such_device"}},
        "second": {"model": {"family": "mlp", "hidden": [8]}, "training": {"optimizer": "lbfgs"}},
    }}
    with pytest.raises(ConfigError, match="Candidate 'second': Unknown optimizer 'lbfgs'"):
        train_candidates(train, val, modality.tensors({"train": train, "val": val}), NO_STUDY, EXPERIMENT, params)
