"""The training loop shared by every torch model.

``fit`` trains on batches of (inputs, labels), evaluates on the validation batches after each
epoch, keeps the best weights, stops early when validation loss stops improving, and reports
each epoch to an optional callback (MLflow logging, Optuna pruning). An optional ``augment``
module transforms each training batch on the device. On CUDA, ``precision="auto"`` trains in
bf16 autocast and image batches use the channels_last layout; on the CPU it trains as fp32.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

from forgeml.errors import ConfigError, TrainingDiverged

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "cosine", "linear")
LONG_EPOCH = 100  # batches: from here on (BERT fine-tuning) an epoch gets its own progress bar


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0  # the optimizer's own decay (decoupled for adamw)
    scheduler: str = "none"  # "none"; "cosine": anneals to 0 over `epochs`; "linear": warm-up, then linear decay to 0
    warmup_ratio: float = 0.1  # "linear": the share of all training steps the learning rate warms up over
    l1: float = 0.0  # penalty on the absolute weights (not biases): sparse models
    l2: float = 0.0  # penalty on the squared weights (not biases)
    patience: int = 10  # epochs without a better validation loss before stopping
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 elsewhere), "fp32" or "bf16"
    processes: int = 1  # data-parallel processes (forgeml.training.distributed); batch_size stays the global batch
    progress: bool = True

    @classmethod
    def from_options(cls, options: dict, seed: int) -> "TrainConfig":
        """A config from a candidate's ``training`` options (names checked), with the run's seed."""
        from dataclasses import fields

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"Unknown training options {unknown}; known options: {sorted(known)}.")
        return cls(**{**options, "seed": seed})


@dataclass
class FitResult:
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    device: str = "cpu"


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class TensorBatches:
    """Batches sliced from in-memory tensors, reshuffled on every pass when ``shuffle`` is set.

    For data that already sits in memory this replaces a DataLoader, whose per-batch machinery
    cost the small tabular models about a fifth of their training time (benchmarks/training_loop.py).
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False):
        self.features, self.labels, self.batch_size, self.shuffle = features, labels, batch_size, shuffle
        self.drop_last = drop_last  # for training: a last batch of one row breaks batch norm
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(len(self.labels) / self.batch_size)

    def __iter__(self):
        count = len(self.labels) - (len(self.labels) % self.batch_size if self.drop_last else 0)
        order = torch.randperm(count, generator=self.generator) if self.shuffle else None
        for begin in range(0, count, self.batch_size):
            index = order[begin : begin + self.batch_size] if order is not None else slice(begin, begin + self.batch_size)
            yield self.features[index], self.labels[index]


PRECISIONS = ("auto", "fp32", "bf16")


def autocast(device: torch.device, precision: str):
    """The autocast context for ``precision`` on ``device``; for fp32 an empty one, cheaper to enter on every
    step than a disabled autocast. Either can be entered again and again, one step after another."""
    if precision not in PRECISIONS:
        raise ConfigError(f"Training option `precision` must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(inputs: torch.Tensor, device: torch.device) -> torch.Tensor:
    inputs = inputs.to(device, non_blocking=True)
    if device.type == "cuda" and inputs.ndim == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def _penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor | float:
    weights = [p for name, p in model.named_parameters() if p.ndim > 1]
    total = 0.0
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


@torch.no_grad()
def _evaluate(model: nn.Module, batches: Iterable, device: torch.device, precision: str) -> tuple[float, float]:
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    cast = autocast(device, precision)
    for inputs, labels in batches:
        inputs, labels = _to_device(inputs, device), labels.to(device, non_blocking=True)
        with cast:
            logits = model(inputs).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += labels.numel()
    return loss_sum / count, correct / count


def _warmup_then_decay(optimizer, steps: int, warmup_ratio: float):
    """The transformer fine-tuning schedule: linear warm-up over ``warmup_ratio`` of the steps, then linear decay to 0."""
    warmup = max(1, int(warmup_ratio * steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))


def fit(
    model: nn.Module,
    train_batches: Iterable,
    val_batches: Iterable,
    config: TrainConfig,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    description: str = "training",
    augment: nn.Module | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> FitResult:
    """Train ``model`` in place; on return it holds the weights of its best validation epoch.

    ``loss_fn(logits, labels, inputs)`` replaces the cross-entropy training loss (distillation);
    validation always scores cross-entropy, so early stopping compares like with like. With
    ``config.processes`` above 1 the training is data-parallel (forgeml.training.distributed);
    ``on_epoch_end`` is called in this process alone.
    """
    from forgeml.training.distributed import SingleProcess, process_group

    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
    if config.scheduler not in SCHEDULERS:
        raise ConfigError(f"Unknown scheduler {config.scheduler!r}; choose one of {', '.join(SCHEDULERS)}.")
    if not isinstance(config.processes, int) or config.processes < 1:
        raise ConfigError(f"Training option `processes` must be a whole number of at least 1, not {config.processes!r}.")
    device = resolve_device(config.device)
    if config.processes == 1:
        return fit_in_group(model, train_batches, val_batches, config, SingleProcess(device), on_epoch_end, description,
                            augment, loss_fn)
    with process_group(config.processes, device,
                       (model, train_batches, val_batches, config, description, augment, loss_fn)) as group:
        return fit_in_group(model, train_batches, val_batches, config, group, on_epoch_end, description, augment, loss_fn)


def fit_in_group(model, train_batches, val_batches, config: TrainConfig, group, on_epoch_end, description, augment,
                 loss_fn) -> FitResult:
    """``fit`` as one process of ``group`` (forgeml.training.distributed): every process runs this loop
    on its shard of the training batches; the main one alone reports and decides when to stop."""
    from tqdm.auto import tqdm

    device = group.device
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # a no-op for models without 4-d weights
    if augment is not None:
        augment.to(device)
    trained = group.wrap(model)
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs) if config.scheduler == "cosine" else None
    step_scheduler = _warmup_then_decay(optimizer, config.epochs * len(train_batches), config.warmup_ratio) \
        if config.scheduler == "linear" else None
    result = FitResult(history={"train_loss": [], "val_loss": [], "val_accuracy": [], "lr": []}, device=str(device))
    best_loss, best_state, stale = math.inf, None, 0
    progress = config.progress and group.is_main
    cast = autocast(device, config.precision)
    penalized = bool(config.l1 or config.l2)

    epochs = tqdm(range(config.epochs), desc=description, unit="epoch", disable=not progress, leave=False)
    for epoch in epochs:
        trained.train()
        losses, sizes = [], []  # summed once per epoch: per-step arithmetic is a share of a small model's step
        steps = tqdm(group.shard(train_batches), desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                     disable=not progress or len(train_batches) < LONG_EPOCH)
        for inputs, labels in steps:
            inputs, labels = _to_device(inputs, device), labels.to(device, non_blocking=True)
            if augment is not None:
                with torch.no_grad():
                    inputs = augment(inputs)
            with cast:
                logits = trained(inputs).float()
                loss = F.cross_entropy(logits, labels) if loss_fn is None else loss_fn(logits, labels, inputs)
            optimizer.zero_grad(set_to_none=True)
            (loss + _penalty(model, config.l1, config.l2) if penalized else loss).backward()
            optimizer.step()
            if step_scheduler is not None:
                step_scheduler.step()
            losses.append(loss.detach())  # no .item() here: it would sync every step on a GPU
            sizes.append(labels.numel())
        learning_rate = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        weights = torch.tensor(sizes, dtype=torch.float32, device=device)
        train_loss = (group.sum(torch.stack(losses).float() @ weights) / group.sum(weights.sum())).item()
        val_loss, val_accuracy = _evaluate(model, val_batches, device, config.precision)
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy, "lr": learning_rate}
        if not (math.isfinite(metrics["train_loss"]) and math.isfinite(val_loss)):
            raise TrainingDiverged(
                f"{description}: the loss is not finite at epoch {epoch + 1} (train {metrics['train_loss']}, validation "
                f"{val_loss}); its weights are not a model. Lower `lr`, check the inputs for NaN or infinite values, "
                "or add `patience`/regularisation."
            )
        for key, value in metrics.items():
            result.history[key].append(value)
        result.epochs_run = epoch + 1
        epochs.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
        if val_loss < best_loss - 1e-6:
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            best_loss, stale, result.best_epoch = val_loss, 0, epoch
        else:
            stale += 1
        if group.agree(stale >= config.patience):
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
