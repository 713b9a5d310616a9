"""A model trained the way CUDA trains it (channels_last weights, bf16 autocast) goes through every compression
method and the evaluation: the GPU path's layout and precision, checked on the CPU where CI runs.

The shipped digits recipe (its ResNet and DenseNet, its compression methods) on a few hundred digits,
with the epochs cut to what shows the path works; the nodes are called in-process.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import yaml

from forgeml.data.images import images_to_table, load_bundled_images
from forgeml.modality import modality_of
from forgeml.pipelines.compress.nodes import compress_candidates
from forgeml.pipelines.evaluate.nodes import evaluate_candidates
from forgeml.pipelines.train.nodes import train_candidates

CONF = Path(__file__).parents[2] / "conf"
EXPERIMENT = {"name": "digits", "target": "target", "modality": "image", "image": {"channels": 1, "size": 8}}
AS_ON_CUDA = {"precision": "bf16", "memory_format": "channels_last"}


def shipped(path: str) -> dict:
    return yaml.safe_load((CONF / path).read_text())


@pytest.fixture(scope="module")
def splits():
    table = images_to_table(load_bundled_images("digits"), 8, "target")
    modality = modality_of(EXPERIMENT)
    train, val, test = modality.split(table.sample(700, random_state=0), 0.2, 0.2, seed=0)
    return train, val, test, modality.tensors({"train": train, "val": val, "test": test})


@pytest.fixture(scope="module")
def trained(splits):
    train, val, _, tensors = splits
    params = shipped("base/parameters_train.yml")["train"]
    shipped_candidates = shipped("experiments/digits/parameters_train.yml")["train"]["candidates"]
    params["defaults"] = {**params["defaults"], **AS_ON_CUDA, "progress": False}
    params["candidates"] = {name: {**shipped_candidates[name], "training": {**shipped_candidates[name]["training"], "epochs": 6}}
                            for name in ("resnet", "densenet")}
    candidates, infos = train_candidates(train, val, tensors, {"candidate": None}, EXPERIMENT, params)
    return candidates, infos, params


@pytest.fixture(scope="module")
def compressed(splits, trained):
    train, val, _, tensors = splits
    candidates, infos, train_params = trained
    params = shipped("base/parameters_compress.yml")["compress"]
    # The ResNet, not the best by validation loss (often the DenseNet): its layout takes the same path, and the
    # DenseNet's fine-tuning, channel pruning and distillation cost about four times as long here.
    params["base"] = "resnet"
    params["methods"] = methods()
    params["fine_tune"] = {"epochs": 1, "progress": False}
    params["quantization"] = {**params["quantization"], "calibration_rows": 64}
    return compress_candidates(candidates, infos, train, val, tensors, EXPERIMENT, train_params, params)


def methods() -> dict:
    """The shipped methods, one of each kind: static INT8 stands for INT8 (dynamic INT8 and the INT8 search are
    other INT8 builds of the same exported graph; tests/compression has them)."""
    shipped_methods = shipped("experiments/digits/parameters_compress.yml")["compress"]["methods"]
    chosen = {name: settings for name, settings in shipped_methods.items() if name not in ("int8_dynamic", "int8_tuned")}
    chosen["distilled_resnet"] = {**chosen["distilled_resnet"], "compare_without_teacher": False, "training": {"epochs": 6}}
    return chosen


def test_training_as_on_cuda_hands_back_an_fp32_model_in_the_standard_layout(trained):
    candidates, infos, _ = trained
    for name, classifier in candidates.items():
        assert {key: infos[name]["training"][key] for key in AS_ON_CUDA} == AS_ON_CUDA
        weights = [p for p in classifier.module.parameters() if p.ndim == 4]
        assert weights and all(p.is_contiguous() and p.dtype == torch.float32 for p in weights), name


def test_every_compression_method_takes_the_model(compressed):
    candidates, infos = compressed
    assert {info["compression"]["method"] for info in infos.values()} == {"unstructured pruning", "structured pruning",
                                                                          "int8", "distillation"}
    assert set(candidates) == set(methods())
    assert infos["pruned_50"]["compression"]["sparsity"]["overall"] == pytest.approx(0.5, abs=0.01)
    assert infos["pruned_channels"]["compression"]["parameters_after"] < infos["pruned_channels"]["compression"]["parameters_before"]
    for name in ("pruned_50", "pruned_channels", "distilled_resnet"):  # fine-tuned or trained as the base was
        assert {key: infos[name]["training"][key] for key in AS_ON_CUDA} == AS_ON_CUDA


def test_evaluation_scores_every_candidate_and_leaves_no_figure_open(splits, trained, compressed):
    """The trained and the fine-tuned or distilled candidates (INT8 programs are exported from the base by the
    compress node above; evaluating them costs a compile per batch shape, which tests/pipelines already pays)."""
    _, _, test, _ = splits
    params = {**shipped("base/parameters_evaluate.yml")["evaluate"], "latency_batch_sizes": [1], "latency_repeats": 2}
    retrained = {name: info for name, info in compressed[1].items() if info["compression"]["method"] != "int8"}
    _, predictions, metrics, figures, robustness, _ = evaluate_candidates(
        trained[0], {name: compressed[0][name] for name in retrained}, retrained, test, EXPERIMENT, params)
    assert set(metrics) == set(predictions.columns) == set(trained[0]) | set(retrained)
    assert len(predictions) == len(test)
    for name, scores in metrics.items():
        assert 0.15 < scores["accuracy"] <= 1 and np.isfinite(scores["log_loss"]), name  # better than chance (0.1)
        assert scores["latency_b1_p50_ms"] > 0
    assert len(figures) == len(robustness) == len(metrics)
    assert plt.get_fignums() == []  # figures outside pyplot: none kept open, whatever the count
