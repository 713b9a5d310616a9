"""The modality object: what differs between tables, images and texts, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forgeml.errors import ConfigError
from forgeml.modality import ImageModality, Modality, TableModality, TextModality, modality_of


def test_the_declared_modality_is_built_and_an_unknown_one_is_refused():
    assert type(modality_of({"name": "a", "target": "y"})) is TableModality
    assert type(modality_of({"name": "a", "target": "y", "modality": "image", "image": {"channels": 1, "size": 2}})) is ImageModality
    # one abstract base, no modality inheriting another's methods
    assert all(cls.__bases__ == (Modality,) for cls in (TableModality, ImageModality, TextModality))
    with pytest.raises(TypeError, match="abstract"):
        Modality({"name": "a", "target": "y"})
    with pytest.raises(ConfigError, match="experiment.modality is 'audio'; choose one of table, image, text"):
        modality_of({"name": "a", "target": "y", "modality": "audio"})


def test_images_are_tables_with_a_shape():
    frame = pd.DataFrame(np.arange(16, dtype=np.float32).reshape(2, 8), columns=[f"p{i}" for i in range(8)]).assign(y=[0, 1])
    image = modality_of({"name": "a", "target": "y", "modality": "image", "image": {"channels": 2, "size": 2}})
    table = modality_of({"name": "a", "target": "y"})
    assert image.tensors({"train": frame})["train"].shape == (2, 2, 2, 2)
    assert table.tensors({"train": frame})["train"].shape == (2, 8)
    assert np.array_equal(image.inputs(frame), table.inputs(frame))  # served as the same flat rows
    assert image.module_input(torch.zeros(3, 2, 2, 2)).shape == (3, 8)
    with pytest.raises(ConfigError, match="2 channel\\(s\\) of 2x2 pixels, but the table has 9 feature columns"):
        image.input_shape(9)


def test_each_modality_keeps_only_its_own_perturbations():
    features, labels = np.random.default_rng(0).random((20, 4)).astype(np.float32), np.array([0, 1] * 10)
    uniform = lambda x: np.full((len(x), 2), 0.5)  # noqa: E731
    levels = {"noise": [0.1], "rotation": [15], "word_dropout": [0.1]}
    curves = modality_of({"name": "a", "target": "y"}).robustness(uniform, features, labels, np.array([0, 1]), levels, 0)
    assert set(curves) == {"noise"}


def test_families_and_compression_methods_follow_the_modality():
    text = TextModality({"name": "r", "target": "s", "modality": "text"})
    assert "bert" in text.families and "resnet" not in text.families and text.compression_methods == ("int8", "distillation")
    with pytest.raises(ConfigError, match="a text experiment does not train"):
        text.check_family("x", "mlp")
    with pytest.raises(ConfigError, match="Unknown table augmentation \\['rotation'\\]"):  # an image transform
        TableModality({"name": "t", "target": "y"}).augmentation({"rotation": {"degrees": 5}}, (4,), 0)
