import pytest
import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.modality import ImageModality
from forgeml.models import ToImage, build_model, count_flops, count_parameters
from forgeml.models.vision import BasicBlock, Bottleneck, DenseLayer
from forgeml.training.data import Moments

SHAPE = (1, 16, 16)


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_resnet_structure_comes_from_config(block):
    model = build_model({"family": "resnet", "block": block, "layers": [2, 1, 3], "base_width": 8}, SHAPE, 10)
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(blocks) == 6
    assert all(isinstance(b, Bottleneck if block == "bottleneck" else BasicBlock) for b in blocks)
    assert model(torch.rand(4, *SHAPE)).shape == (4, 10)


def test_wider_and_deeper_resnets_cost_more():
    def cost(options):
        model = build_model({"family": "resnet", **options}, SHAPE, 10)
        return count_parameters(model), count_flops(model, SHAPE)

    small = cost({"layers": [1, 1], "base_width": 8})
    wide = cost({"layers": [1, 1], "base_width": 16})
    deep = cost({"layers": [2, 2], "base_width": 8})
    assert wide[0] > 3 * small[0] and wide[1] > 3 * small[1]  # width enters squared
    assert deep[0] > small[0] and deep[1] > small[1]


def test_densenet_structure_comes_from_config():
    model = build_model({"family": "densenet", "growth_rate": 6, "block_config": [2, 3], "compression": 0.5}, SHAPE, 3)
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 5
    # stem 12 channels, +2x6 = 24, transition halves to 12, +3x6 = 30 features into the classifier
    assert model.head[-1].in_features == 30
    assert model(torch.rand(2, *SHAPE)).shape == (2, 3)


def test_image_models_accept_flat_pixel_rows_as_served_and_standardize_each_channel():
    modality = ImageModality({"name": "shapes", "target": "label", "image": {"channels": 2, "size": 16}})
    train = torch.stack([torch.full((16, 16), 0.2), torch.full((16, 16), 0.8)]).expand(5, 2, 16, 16)
    train = train + 0.1 * torch.randn(5, 2, 16, 16)
    model = build_model({"family": "resnet", "layers": [1]}, (2, 16, 16), 4, modality.input_layers(Moments.of([train])))
    assert isinstance(model[0], ToImage)
    standardized = model[1](model[0](train.reshape(5, -1)))
    assert torch.allclose(standardized.mean((0, 2, 3)), torch.zeros(2), atol=1e-5)
    model.eval()
    images = torch.rand(3, 2, 16, 16)
    assert torch.allclose(model(images.reshape(3, -1)), model(images))


def test_the_small_stem_keeps_resolution_and_the_imagenet_stem_quarters_it():
    small = build_model({"family": "resnet", "layers": [1]}, (3, 32, 32), 2)
    imagenet = build_model({"family": "resnet", "layers": [1], "stem": "imagenet"}, (3, 32, 32), 2)
    x = torch.rand(1, 3, 32, 32)
    assert small.stem(x).shape[-1] == 32 and imagenet.stem(x).shape[-1] == 8


@pytest.mark.parametrize(("config", "shape", "message"), [
    ({"family": "resnet"}, (30,), "needs images"),
    ({"family": "resnet", "block": "wide"}, SHAPE, "Unknown ResNet block 'wide'"),
    ({"family": "resnet", "layers": []}, SHAPE, "at least one stage"),
    ({"family": "densenet", "compression": 1.5}, SHAPE, "compression"),
    ({"family": "densenet", "growth": 12}, SHAPE, "Bad options for model family 'densenet'"),
])
def test_bad_image_model_configs_are_explained(config, shape, message):
    with pytest.raises(ConfigError, match=message):
        build_model(config, shape, 10)


def test_flop_count_matches_a_hand_count():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 4))
    assert count_flops(model, (8,)) == 2 * 8 * 4
