"""The modality object: what differs between tables, images and texts, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import forgeml
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


def test_images_are_a_column_of_8_bit_pixels_the_models_take_as_flat_rows_with_a_shape():
    values = np.arange(16, dtype=np.uint8).reshape(2, 8) * 17
    frame = pd.DataFrame({"pixels": [row.tobytes() for row in values], "y": [0, 1]})
    image = modality_of({"name": "a", "target": "y", "modality": "image", "image": {"channels": 2, "size": 2}})
    kept = image.tensors({"train": frame})["train"]
    assert kept.shape == (2, 2, 2, 2) and kept.dtype == np.uint8  # the data stage keeps 8 bits a pixel
    np.testing.assert_array_equal(image.training_inputs(kept).reshape(2, 8), image.inputs(frame))  # trained on what is served
    np.testing.assert_array_equal(image.inputs(frame), values.astype(np.float32) / 255)  # served as flat rows in [0, 1]
    assert image.module_input(torch.zeros(3, 2, 2, 2)).shape == (3, 8)
    table = modality_of({"name": "a", "target": "y"})
    features = pd.DataFrame(values.astype(np.float32), columns=[f"p{i}" for i in range(8)]).assign(y=[0, 1])
    assert table.tensors({"train": features})["train"].shape == (2, 8)
    with pytest.raises(ConfigError, match="2 channel\\(s\\) of 2x2 pixels, but the pixel table has 9 values per image"):
        image.input_shape(9)


def test_each_modality_keeps_only_its_own_perturbations():
    features, labels = np.random.default_rng(0).random((20, 4)).astype(np.float32), np.array([0, 1] * 10)
    uniform = lambda x: np.full((len(x), 2), 0.5)  # noqa: E731
    levels = {"noise": [0.1], "occlusion": [0.5], "rotation": [15], "word_dropout": [0.1]}
    image = modality_of({"name": "a", "target": "y", "modality": "image", "image": {"channels": 1, "size": 2}})
    for modality, kinds in ((modality_of({"name": "a", "target": "y"}), {"noise"}),
                            (image, {"noise", "occlusion", "rotation"})):
        assert set(modality.robustness(uniform, features, labels, np.array([0, 1]), levels, 0)) == kinds
    assert set(TextModality({"name": "r", "target": "s", "modality": "text"}).perturbations()) == {"word_dropout"}


def test_families_and_compression_methods_follow_the_modality():
    text = TextModality({"name": "r", "target": "s", "modality": "text"})
    assert "bert" in text.families and "resnet" not in text.families and text.compression_methods == ("int8", "distillation")
    with pytest.raises(ConfigError, match="a text experiment does not train"):
        text.check_family("x", "mlp")
    with pytest.raises(ConfigError, match="Unknown table augmentation \\['rotation'\\]"):  # an image transform
        TableModality({"name": "t", "target": "y"}).augmentation({"rotation": {"degrees": 5}}, (4,), 0)


# A branch on the kind of data: a comparison with a modality's name, a model family named in a condition, or texts
# told apart by their array's dtype.
BRANCH_ON_THE_KIND_OF_DATA = re.compile(
    r'(==|!=|\bin)\s*[\(\[]?\s*"(table|image|text)s?"|family("\])?\s*(==|!=|in)\s*[\(\["]|dtype\s*==\s*object')


def test_no_code_outside_the_modality_branches_on_the_kind_of_data():
    """What differs between tables, images and texts is asked of the modality (forgeml.modality); the models
    (forgeml.models) alone name their own families."""
    src = Path(forgeml.__file__).parent
    found = [f"{path.relative_to(src)}:{number}: {line.strip()}"
             for path in sorted(src.rglob("*.py")) if path.name != "modality.py" and path.parent.name != "models"
             for number, line in enumerate(path.read_text().splitlines(), 1) if BRANCH_ON_THE_KIND_OF_DATA.search(line)]
    assert found == []


@pytest.mark.parametrize("line", ['if experiment["modality"] == "image":', 'if kind in ("text", "table"):',
                                  'if spec["family"] == "bert":', "if family in ['resnet']:", "if features.dtype == object:"])
def test_the_branch_check_finds_a_branch(line):
    assert BRANCH_ON_THE_KIND_OF_DATA.search(line)
