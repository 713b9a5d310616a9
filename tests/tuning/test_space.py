import optuna
import pytest

from forgeml.errors import ConfigError
from forgeml.tuning import SearchSpace, apply_overrides

MLP_SPACE = {
    "training.lr": {"low": 1.0e-4, "high": 1.0e-1, "log": True},
    "training.batch_size": {"choices": [16, 32]},
    "model.hidden": {"length": {"low": 1, "high": 3}, "item": {"low": 8, "high": 64}},
    "model.dropout": {"low": 0.0, "high": 0.5},
}


def test_widths_are_drawn_only_for_the_layers_drawn():
    space = SearchSpace.from_config(MLP_SPACE, "mlp")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    lengths = set()
    for _ in range(20):
        trial = study.ask()
        overrides = space.suggest(trial)
        hidden = overrides["model"]["hidden"]
        lengths.add(len(hidden))
        widths = [key for key in trial.params if key.startswith("model.hidden[")]
        assert len(widths) == len(hidden) == trial.params["model.hidden.length"]
        assert all(8 <= w <= 64 and isinstance(w, int) for w in hidden)
        assert isinstance(overrides["training"]["lr"], float)
        study.tell(trial, 0.0)
    assert lengths == {1, 2, 3}


def test_structure_of_image_families_is_searchable():
    space = SearchSpace.from_config({
        "model.layers": {"length": {"low": 2, "high": 3}, "item": {"low": 1, "high": 2}},
        "model.base_width": {"choices": [8, 16]},
        "model.block": {"choices": ["basic", "bottleneck"]},
    }, "resnet")
    overrides = space.suggest(optuna.create_study().ask())
    assert 2 <= len(overrides["model"]["layers"]) <= 3
    SearchSpace.from_config({"model.growth_rate": {"low": 6, "high": 16}, "model.block_config": {
        "length": {"low": 2, "high": 3}, "item": {"low": 2, "high": 6}}}, "densenet")


def test_overrides_land_on_the_candidate_spec():
    spec = {"model": {"family": "mlp", "hidden": [4]}, "training": {"lr": 0.1, "epochs": 5}}
    tuned = apply_overrides(spec, {"model": {"hidden": [8, 8]}, "training": {"lr": 0.01}})
    assert tuned == {"model": {"family": "mlp", "hidden": [8, 8]}, "training": {"lr": 0.01, "epochs": 5}}
    assert spec["model"]["hidden"] == [4]


@pytest.mark.parametrize(("space", "family", "message"), [
    ({"model.depth": {"low": 1, "high": 3}}, "mlp", r"'mlp' has no model option 'depth'. Known model options: .*hidden"),
    ({"training.momentum": {"low": 0.5, "high": 0.9}}, "mlp", "no training option 'momentum'"),
    ({"lr": {"low": 0.1, "high": 1.0}}, "mlp", "must start with `training.` or `model.`"),
    ({"training.lr": {"low": 0.1, "high": 0.01}}, "mlp", "impossible range: low 0.1 is above high 0.01"),
    ({"training.lr": {"low": 0.0, "high": 0.1, "log": True}}, "mlp", "log scale"),
    ({"model.activation": {"choices": []}}, "mlp", "non-empty list `choices`"),
    ({"model.hidden": {"length": {"low": 0, "high": 2}, "item": {"low": 8, "high": 16}}}, "mlp", "`length` must be integers of at least 1"),
    ({"model.growth_rate": {"low": 6, "high": 12}}, "resnet", "'resnet' has no model option 'growth_rate'"),
    ({"training.lr": {"low": 0.1, "high": 1.0}}, "sklearn_logreg", "Only torch model families can be tuned"),
    ({}, "mlp", "empty"),
])
def test_bad_spaces_fail_with_the_entry_named(space, family, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_config(space, family)


def test_how_a_trial_runs_is_not_part_of_the_study_identity():
    from forgeml.tuning import TuneSettings, study_name

    settings = TuneSettings(candidate="mlp", n_trials=2, space=MLP_SPACE)
    base = {"model": {"family": "mlp"}, "training": {"lr": 0.1, "progress": True, "device": "auto"}}
    quiet = {**base, "training": {**base["training"], "progress": False, "device": "cpu"}}
    other = {**base, "training": {**base["training"], "lr": 0.2}}
    assert study_name("x", settings, base) == study_name("x", settings, quiet) != study_name("x", settings, other)
