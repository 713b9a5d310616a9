import numpy as np
import pytest
import torch

from forgeml.data.augmentation import TRANSFORMS, build_augmentation, preview_grid
from forgeml.errors import ConfigError

EVERY_TRANSFORM = {
    "horizontal_flip": {"p": 1.0},
    "resized_crop": {"scale": [0.5, 1.0], "p": 1.0},
    "rotation": {"degrees": 20, "p": 1.0},
    "affine": {"scale": [0.8, 1.2], "translate": [0.1, 0.1], "p": 1.0},
    "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 1.0},
    "gaussian_noise": {"std": 0.1, "p": 1.0},
}


@pytest.mark.parametrize("channels", [1, 3])
def test_every_transform_keeps_shape_and_unit_range(channels):
    policy = EVERY_TRANSFORM if channels == 3 else {**EVERY_TRANSFORM, "color_jitter": {"brightness": 0.3, "contrast": 0.3}}
    augmentation = build_augmentation(policy, (16, 16))
    assert len(augmentation.pipeline) == len(TRANSFORMS)
    images = torch.rand(8, channels, 16, 16)
    out = augmentation(images.clone())
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, images)


def test_each_transform_can_be_switched_off():
    assert build_augmentation({}, (8, 8)) is None
    assert build_augmentation({"rotation": False, "gaussian_noise": None}, (8, 8)) is None
    only_noise = build_augmentation({"rotation": False, "gaussian_noise": {"std": 0.1}}, (8, 8))
    assert len(only_noise.pipeline) == 1


def test_noise_is_sized_by_its_parameter():
    images = torch.full((64, 1, 16, 16), 0.5)
    small = build_augmentation({"gaussian_noise": {"std": 0.01, "p": 1.0}}, (16, 16))(images.clone())
    large = build_augmentation({"gaussian_noise": {"std": 0.2, "p": 1.0}}, (16, 16))(images.clone())
    assert (small - 0.5).std() < 0.02 < 0.1 < (large - 0.5).std()


@pytest.mark.parametrize(("policy", "message"), [
    ({"mixup": {}}, r"Unknown augmentation \['mixup'\]"),
    ({"rotation": {"degree": 10}}, r"Unknown options \['degree'\] for augmentation 'rotation'"),
])
def test_bad_policies_are_explained(policy, message):
    with pytest.raises(ConfigError, match=message):
        build_augmentation(policy, (8, 8))


def test_preview_grid_shows_the_originals_in_its_first_row_and_a_draw_in_each_row_below():
    images = torch.rand(5, 1, 8, 8)
    figure = preview_grid(images, build_augmentation({"rotation": {"p": 1.0}}, (8, 8)), variants=3)
    (axis,) = figure.axes
    picture = axis.images[0].get_array()
    assert picture.shape == (4 * 9 + 1, 5 * 9 + 1)  # 4 rows of 5 tiles of 8 pixels, a pixel apart
    tile = lambda row, column: picture[1 + 9 * row : 9 * (row + 1), 1 + 9 * column : 9 * (column + 1)]
    assert np.array_equal(tile(0, 4), images[4, 0].numpy())
    assert not np.allclose(tile(1, 4), images[4, 0].numpy())  # rotated
    assert [label.get_text() for label in axis.get_yticklabels()] == ["original", "draw 1", "draw 2", "draw 3"]


def test_table_noise_is_scaled_by_each_feature_and_swaps_values_within_a_column():
    from forgeml.data.augmentation import build_table_augmentation

    torch.manual_seed(0)
    rows = torch.stack([torch.randn(4096), 1000 * torch.randn(4096)], dim=1)  # two features, 1000x apart in scale
    noisy = build_table_augmentation({"noise": {"std": 0.1}})(rows)
    assert torch.allclose((noisy - rows).std(0), 0.1 * rows.std(0), rtol=0.1)
    swapped = build_table_augmentation({"swap": {"p": 0.3}})(rows)
    changed = (swapped != rows).float().mean()
    assert 0.25 < changed < 0.35
    for column in range(2):  # a swapped value is another row's value of the same feature
        assert set(swapped[:, column].tolist()) <= set(rows[:, column].tolist())


def test_a_table_policy_is_checked():
    from forgeml.data.augmentation import build_table_augmentation

    assert build_table_augmentation({}) is None and build_table_augmentation({"noise": None}) is None
    with pytest.raises(ConfigError, match="Unknown table augmentation \\['rotation'\\]"):
        build_table_augmentation({"rotation": {"degrees": 10}})
    with pytest.raises(ConfigError, match="swap.p in \\[0, 1\\)"):
        build_table_augmentation({"swap": {"p": 1.5}})
