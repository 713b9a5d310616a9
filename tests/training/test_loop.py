import pytest
import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.training import Candidate, TrainConfig, fit, TensorBatches


def toy_problem(seed=0, n=400):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 5, generator=generator)
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).long()
    return features, labels


def loaders(batch_size=32):
    x, y = toy_problem()
    return TensorBatches(x[:300], y[:300], batch_size, shuffle=True), TensorBatches(x[300:], y[300:], 100)


def test_fit_learns_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    train, val = loaders()
    seen = []
    result = fit(model, train, val, TrainConfig(epochs=40, lr=0.05, patience=100, progress=False),
                 on_epoch_end=lambda epoch, metrics: seen.append(epoch))
    assert seen == list(range(40))
    assert result.history["val_accuracy"][result.best_epoch] > 0.9
    best = min(result.history["val_loss"])
    assert result.history["val_loss"][result.best_epoch] == best
    with torch.no_grad():
        x, y = toy_problem()
        restored = nn.functional.cross_entropy(model(x[300:]), y[300:]).item()
    assert restored == pytest.approx(best, rel=1e-5)


def test_early_stopping_stops_after_patience():
    model = nn.Linear(5, 2)
    train, val = loaders()
    result = fit(model, train, val, TrainConfig(epochs=200, lr=0.0, patience=3, progress=False))
    assert result.stopped_early and result.epochs_run == 4


def test_same_seed_same_model():
    def run():
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
        x, y = toy_problem()
        fit(model, TensorBatches(x[:300], y[:300], 16, shuffle=True, seed=3), TensorBatches(x[300:], y[300:], 100),
            TrainConfig(epochs=5, progress=False))
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(run(), run())


def test_l1_penalty_shrinks_weights():
    def weight_norm(l1):
        torch.manual_seed(0)
        model = nn.Linear(5, 2)
        train, val = loaders()
        fit(model, train, val, TrainConfig(epochs=30, lr=0.05, l1=l1, patience=100, progress=False))
        return model.weight.abs().sum().item()

    assert weight_norm(0.05) < 0.5 * weight_norm(0.0)


def _table_modality():
    from forgeml.modality import modality_of

    return modality_of({"name": "breast_cancer", "target": "target", "modality": "table"})


def test_a_candidate_of_a_family_its_modality_does_not_train_is_refused():
    with pytest.raises(ConfigError, match="model family 'resnet', which a table experiment does not train.*"
                                          "Families for tables: logreg, mlp, sklearn_logreg"):
        Candidate.declared("x", {"model": {"family": "resnet"}}, _table_modality(), 0)


def test_a_candidate_with_an_unknown_training_option_is_refused():
    with pytest.raises(ConfigError, match="Candidate 'x': Unknown training options \\['learning_rate'\\]"):
        Candidate.declared("x", {"model": {"family": "logreg"}, "training": {"learning_rate": 1}}, _table_modality(), 0)


def test_augmentation_is_applied_to_training_batches_only():
    class Blank(nn.Module):
        """An augmentation that erases every input: nothing can be learned through it."""

        def forward(self, inputs):
            return torch.zeros_like(inputs)

    torch.manual_seed(0)
    train, val = loaders()
    config = TrainConfig(epochs=15, lr=0.05, patience=100, progress=False)
    def zero_linear():
        model = nn.Linear(5, 2)
        nn.init.zeros_(model.weight)
        return model

    plain = fit(zero_linear(), train, val, config)
    blanked = fit(zero_linear(), train, val, config, augment=Blank())
    assert max(plain.history["val_accuracy"]) > 0.9
    assert max(blanked.history["val_accuracy"]) < 0.75  # the bias alone: about the majority class


def test_bf16_autocast_trains_on_the_cpu():
    torch.manual_seed(0)
    train, val = loaders()
    result = fit(nn.Linear(5, 2), train, val, TrainConfig(epochs=10, lr=0.05, precision="bf16", progress=False))
    assert max(result.history["val_accuracy"]) > 0.85


def test_unknown_precision_is_explained():
    train, val = loaders()
    with pytest.raises(ConfigError, match="precision"):
        fit(nn.Linear(5, 2), train, val, TrainConfig(epochs=1, precision="fp8", progress=False))


def test_cosine_schedule_anneals_the_learning_rate_and_weight_decay_shrinks_weights():
    train, val = loaders()
    config = TrainConfig(epochs=6, lr=0.1, scheduler="cosine", patience=100, progress=False)
    learning_rates = fit(nn.Linear(5, 2), train, val, config).history["lr"]
    assert learning_rates[0] == 0.1 and learning_rates == sorted(learning_rates, reverse=True)
    assert learning_rates[-1] < 0.01
    torch.manual_seed(0)
    plain, decayed = nn.Linear(5, 2), nn.Linear(5, 2)
    decayed.load_state_dict(plain.state_dict())
    fit(plain, train, val, TrainConfig(epochs=10, lr=0.05, optimizer="adamw", patience=100, progress=False))
    fit(decayed, train, val, TrainConfig(epochs=10, lr=0.05, optimizer="adamw", weight_decay=5.0, patience=100, progress=False))
    assert decayed.weight.norm() < plain.weight.norm()


@pytest.mark.parametrize(("option", "value"), [("optimizer", "lbfgs"), ("scheduler", "step")])
def test_unknown_optimizer_or_scheduler_is_explained(option, value):
    with pytest.raises(ConfigError, match=f"Unknown {option} '{value}'"):
        TrainConfig(epochs=1, progress=False, **{option: value})


@pytest.mark.parametrize(("option", "value", "message"), [
    ("epochs", 0, "`epochs` must be a whole number of at least 1, not 0"),
    ("batch_size", 32.5, "`batch_size` must be a whole number"),
    ("patience", True, "`patience` must be a whole number"),
    ("processes", "two", "`processes` must be a whole number of at least 1 or `auto`, not 'two'"),
    ("lr", "1e-3", "`lr` must be a number of at least 0, not '1e-3'"),
    ("l2", -0.1, "`l2` must be a number of at least 0"),
    ("warmup_ratio", 1.0, "`warmup_ratio` is a share of the steps, below 1"),
])
def test_a_training_value_out_of_its_range_is_refused_when_the_config_is_made(option, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{option: value})


def test_drop_last_skips_the_ragged_batch_that_would_break_batch_norm():
    x, y = toy_problem(n=33)
    batches = TensorBatches(x, y, 16, shuffle=True, drop_last=True)
    assert [len(labels) for _, labels in batches] == [16, 16] and len(batches) == 2
    assert [len(labels) for _, labels in TensorBatches(x, y, 16)] == [16, 16, 1]


def test_a_loss_that_is_not_finite_stops_training_naming_the_candidate_and_epoch():
    from forgeml.errors import TrainingDiverged

    torch.manual_seed(0)
    inputs = torch.randn(64, 5)
    inputs[3, 2] = float("nan")  # one bad value poisons the loss from the first epoch
    labels = (inputs[:, 0] > 0).long()
    batches = TensorBatches(inputs, labels, 16)
    with pytest.raises(TrainingDiverged, match="mlp: the loss is not finite at epoch 1"):
        fit(nn.Linear(5, 2), batches, batches, TrainConfig(epochs=5, progress=False), description="mlp")


def test_under_a_scheduler_a_fit_writes_one_line_with_its_best_epoch(monkeypatch, caplog):
    monkeypatch.setenv("FORGEML_PROGRESS", "lines")
    torch.manual_seed(0)
    train, val = loaders()
    with caplog.at_level("INFO", logger="forgeml.training.loop"):
        result = fit(nn.Linear(5, 2), train, val, TrainConfig(epochs=6, lr=0.05), description="toy")
        fit(nn.Linear(5, 2), train, val, TrainConfig(epochs=6, lr=0.05, progress=False), description="quiet toy")
    assert [record.getMessage() for record in caplog.records] == [
        f"toy: 6 epochs; best validation loss {result.history['val_loss'][result.best_epoch]:.4f} "
        f"(accuracy {result.history['val_accuracy'][result.best_epoch]:.3f}) at epoch {result.best_epoch + 1}"]
