import copy

import pytest
import torch
from compression_fixtures import accuracy

from forgeml.compression import prune_structured, prune_unstructured, sparsity
from forgeml.errors import ConfigError
from forgeml.models import count_flops
from forgeml.training import TrainConfig
from forgeml.training.data import fit_on


def fine_tuner(data, calls):
    def fine_tune(module):
        calls.append(sparsity(module)["overall"] if not hasattr(module, "weight_orig") else None)
        fit_on(module, data, TrainConfig(epochs=5, lr=1e-3, patience=5, progress=False))
    return fine_tune


def test_unstructured_pruning_reaches_the_target_in_steps_and_keeps_accuracy(cancer, cancer_mlp):
    module, calls = copy.deepcopy(cancer_mlp), []
    report = prune_unstructured(module, 0.5, steps=3, fine_tune=fine_tuner(cancer, calls))
    assert len(calls) == 3
    assert calls == sorted(calls) and calls[0] < calls[-1]  # sparsity rises step by step
    assert report["overall"] == pytest.approx(0.5, abs=0.01)
    assert not any(name.endswith("_orig") for name, _ in module.named_parameters())  # permanent: masks removed
    assert accuracy(module, cancer) >= accuracy(cancer_mlp, cancer) - 0.02


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "half", True])
def test_a_sparsity_outside_zero_one_fails_before_any_work(cancer_mlp, bad):
    calls = []
    before = copy.deepcopy(cancer_mlp.state_dict())
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        prune_unstructured(cancer_mlp, bad, steps=2, fine_tune=calls.append)
    assert calls == []
    assert all(torch.equal(before[key], value) for key, value in cancer_mlp.state_dict().items())


def test_structured_pruning_removes_channels_and_flops_and_keeps_the_classes(digits, digits_resnet):
    module, calls = copy.deepcopy(digits_resnet), []
    flops_before = count_flops(module, digits.shape)
    report = prune_structured(module, digits.train.inputs[:2], 0.4, steps=2, fine_tune=fine_tuner(digits, calls))
    assert len(calls) == 2
    assert report["parameters_after"] < 0.6 * report["parameters_before"]
    assert count_flops(module, digits.shape) <= 0.7 * flops_before
    assert module(digits.val.inputs[:3]).shape == (3, 10)
    assert accuracy(module, digits) >= accuracy(digits_resnet, digits) - 0.05


def test_structured_pruning_checks_the_ratio(digits, digits_resnet):
    with pytest.raises(ConfigError, match="channel_ratio"):
        prune_structured(copy.deepcopy(digits_resnet), digits.train.inputs[:2], 1.0, steps=1, fine_tune=lambda m: None)
