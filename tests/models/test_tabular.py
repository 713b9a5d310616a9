import pytest
import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.modality import TableModality
from forgeml.models import Standardize, build_model
from forgeml.training.data import Moments


def test_mlp_structure_comes_from_config():
    model = build_model(
        {"family": "mlp", "hidden": [16, 8, 4], "activation": "gelu", "dropout": 0.1, "batch_norm": True}, (10,), 3
    )
    linear = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(10, 16), (16, 8), (8, 4), (4, 3)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model) == 3
    assert sum(isinstance(m, nn.GELU) for m in model) == 3
    assert sum(isinstance(m, nn.Dropout) for m in model) == 3


def test_logreg_is_one_linear_layer_behind_the_tables_standardize():
    train = torch.tensor([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])  # means 2-5, standard deviations 2.83
    layers = TableModality({"name": "t", "target": "y"}).input_layers(Moments.of([train]))
    model = build_model({"family": "logreg"}, (4,), 2, layers)
    assert isinstance(model[0], Standardize)
    assert [type(m) for m in model[1]] == [nn.Flatten, nn.Linear]
    assert torch.allclose(model[0](train).mean(0), torch.zeros(4))
    assert torch.allclose(model[0](train).std(0), torch.ones(4))


@pytest.mark.parametrize(("config", "message"), [
    ({"family": "transformer"}, "Unknown model family 'transformer'"),
    ({"family": "mlp", "activation": "swish"}, "Unknown activation 'swish'"),
    ({"family": "mlp", "depth": 3}, "Bad options for model family 'mlp'"),
])
def test_bad_configs_are_explained(config, message):
    with pytest.raises(ConfigError, match=message):
        build_model(config, (4,), 2)
