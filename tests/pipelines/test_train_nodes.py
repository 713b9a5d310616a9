"""The train stage's node, in-process on tiny data."""

import multiprocessing

import numpy as np
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


def test_a_candidate_trained_on_two_processes_records_them_and_predicts_as_on_one(breast_cancer):
    """`processes: 2` reaches the training loop (two gloo ranks, each half of every batch: tests/training has the
    gradients) and the record; the model predicts as the one trained in one process."""
    modality = modality_of(EXPERIMENT)
    train, val, _ = modality.split(breast_cancer, 0.2, 0.15, seed=0)
    candidate = {"model": {"family": "mlp", "hidden": [16]}, "training": {"epochs": 3, "batch_size": 64}}
    params = {"seed": 0, "defaults": {"progress": False}, "candidates": {
        "one": candidate, "two": {**candidate, "training": {**candidate["training"], "processes": 2}}}}
    candidates, infos = train_candidates(train, val, modality.tensors({"train": train, "val": val}), NO_STUDY,
                                         EXPERIMENT, params)
    assert infos["two"]["training"]["processes"] == 2 and infos["one"]["training"].get("processes", 1) == 1
    assert infos["two"]["epochs_run"] == infos["one"]["epochs_run"] == 3
    features = modality.inputs(val)
    # the same gradients, so the same model (batches of 64 split evenly between the two ranks)
    assert np.abs(candidates["two"].predict_proba(features) - candidates["one"].predict_proba(features)).max() < 1e-4
    assert not multiprocessing.active_children()
