"""The training loop shared by every torch model.

``fit`` trains on batches of (inputs, labels), evaluates on the validation batches after each
epoch, keeps the best weights, stops early when validation loss stops improving, and reports
each epoch to an optional callback (MLflow logging, Optuna pruning). An optional ``augment``
module transforms each training batch on the device. On CUDA, ``precision="auto"`` trains in
bf16 autocast the model families measured faster in it (``bf16_pays_on_cuda`` on the model's class,
from benchmarks/gpu_throughput.py; none so far), and image batches use the channels_last layout; on
the CPU it trains as fp32. Whatever layout and precision training used, ``fit`` hands back an fp32 model in the
standard (contiguous) layout, which pruning, INT8 export and serving expect.

What a step does besides the model is kept off the host: batches are drawn with an index already on
the device, the training loss accumulates on the device, and validation reads its sums once.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

from forgeml import progress
from forgeml.errors import ConfigError, TrainingDiverged
from forgeml.training.distributed import SingleProcess, process_group, resolve_processes

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "cosine", "linear")
PRECISIONS = ("auto", "fp32", "bf16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
LONG_EPOCH = 100  # batches: from here on (BERT fine-tuning) an epoch gets its own progress bar
logger = logging.getLogger(__name__)


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
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA where the family gains, else fp32), "fp32" or "bf16"
    memory_format: str = "auto"  # image batches: "auto" (channels_last on CUDA), "channels_last" or "contiguous"
    compile: bool = False  # torch.compile the training step (CUDA graphs on CUDA): for the models that gain
    processes: int | str = 1  # data-parallel processes (forgeml.training.distributed), or "auto": one per GPU
    resident_mb: float = 1024  # train and val inputs up to this size sit on the device whole; larger ones are loaded
    loader_workers: int = 0  # processes that make the batches of a split too large to sit on the device (0: this one)
    progress: bool = True

    def __post_init__(self):
        """Every option is checked here and only here: a config that exists is one ``fit`` can run, so a bad value
        fails when a candidate is declared, not after the candidates before it have trained."""
        choices = {"optimizer": tuple(OPTIMIZERS), "scheduler": SCHEDULERS, "precision": PRECISIONS,
                   "memory_format": MEMORY_FORMATS}
        for option, allowed in choices.items():
            if getattr(self, option) not in allowed:
                raise ConfigError(f"Unknown {option} {getattr(self, option)!r}: training option `{option}` must be one "
                                  f"of {', '.join(allowed)}.")
        for option in ("epochs", "batch_size", "patience"):
            _check_whole(option, getattr(self, option))
        if self.processes != "auto":
            _check_whole("processes", self.processes, "or `auto`")
        if isinstance(self.loader_workers, bool) or not isinstance(self.loader_workers, int) or self.loader_workers < 0:
            raise ConfigError(f"Training option `loader_workers` must be a whole number of at least 0, not {self.loader_workers!r}.")
        for option in ("lr", "weight_decay", "l1", "l2", "warmup_ratio", "resident_mb"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(f"Training option `{option}` must be a number of at least 0, not {value!r}.")
        if self.warmup_ratio >= 1:
            raise ConfigError(f"Training option `warmup_ratio` is a share of the steps, below 1, not {self.warmup_ratio!r}.")

    @classmethod
    def from_options(cls, options: dict, seed: int) -> "TrainConfig":
        """A config from a candidate's ``training`` options (names and values checked), with the run's seed."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"Unknown training options {unknown}; known options: {sorted(known)}.")
        return cls(**{**options, "seed": seed})


def _check_whole(option: str, value, alternative: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Training option `{option}` must be a whole number of at least 1{' ' + alternative if alternative else ''}, "
                          f"not {value!r}.")


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
        # Drawn on the CPU (one generator, the same order on every device) and moved once an epoch: a CPU
        # index on CUDA data would be a blocking copy at every batch.
        order = torch.randperm(count, generator=self.generator).to(self.labels.device) if self.shuffle else None
        for begin in range(0, count, self.batch_size):
            index = order[begin : begin + self.batch_size] if order is not None else slice(begin, begin + self.batch_size)
            yield self.features[index], self.labels[index]


def bf16_pays(model: nn.Module) -> bool:
    """Whether ``model`` holds a network whose class says bf16 autocast trains it faster on CUDA
    (``bf16_pays_on_cuda``, set per family from benchmarks/gpu_throughput.py's measurements)."""
    return any(getattr(module, "bf16_pays_on_cuda", False) for module in model.modules())


def autocast(device: torch.device, precision: str, model: nn.Module | None = None):
    """The autocast context for ``precision`` on ``device`` (``auto``: bf16 on CUDA where ``bf16_pays(model)``);
    for fp32 an empty one, cheaper to enter on every step than a disabled autocast. Either can be entered
    again and again, one step after another."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda" and model is not None and bf16_pays(model)):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device, name: str) -> torch.memory_format:
    """The layout image batches and convolution weights train in: ``auto`` is channels_last on CUDA."""
    if name == "channels_last" or (name == "auto" and device.type == "cuda"):
        return torch.channels_last
    return torch.contiguous_format


def _to_device(inputs: torch.Tensor, device: torch.device, layout: torch.memory_format) -> torch.Tensor:
    inputs = inputs.to(device, non_blocking=True)
    if layout is torch.channels_last and inputs.ndim == 4:
        inputs = inputs.contiguous(memory_format=layout)
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
def _evaluate(model: nn.Module, batches: Iterable, device: torch.device, cast, layout) -> tuple[float, float]:
    """Validation loss and accuracy, summed on the device and read once (one host sync, not two a batch)."""
    model.eval()
    sums, count = torch.zeros(2, device=device), 0
    for inputs, labels in batches:
        inputs, labels = _to_device(inputs, device, layout), labels.to(device, non_blocking=True)
        with cast:
            logits = model(inputs).float()
        sums[0] += F.cross_entropy(logits, labels, reduction="sum")
        sums[1] += (logits.argmax(1) == labels).sum()
        count += labels.numel()
    loss_sum, correct = sums.tolist()
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
    """Train ``model`` in place; on return it holds the weights of its best validation epoch, in fp32 and
    the contiguous layout, on the training device.

    ``loss_fn(logits, labels, inputs)`` replaces the cross-entropy training loss (distillation);
    validation always scores cross-entropy, so early stopping compares like with like. With
    ``config.processes`` above 1 the training is data-parallel (forgeml.training.distributed);
    ``on_epoch_end`` is called in this process alone.
    """
    device = resolve_device(config.device)
    processes = resolve_processes(config.processes, device)
    if processes == 1:
        return fit_in_group(model, train_batches, val_batches, config, SingleProcess(device), on_epoch_end, description,
                            augment, loss_fn)
    with process_group(processes, device, fit_in_group,
                       (model, train_batches, val_batches, config, description, augment, loss_fn)) as group:
        return fit_in_group(model, train_batches, val_batches, config, group, on_epoch_end, description, augment, loss_fn)


def _optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # On CUDA the fused kernels update every parameter in one or two launches instead of several per tensor.
    fused = {"fused": True} if device.type == "cuda" else {}
    return OPTIMIZERS[config.optimizer](model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **fused)


def _compiled(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` compiled for training; on CUDA with CUDA graphs (``reduce-overhead``), which replay a step's
    kernels in one launch: the training batches keep one shape (the last ragged batch is dropped)."""
    return torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else None)


def fit_in_group(model, train_batches, val_batches, config: TrainConfig, group, on_epoch_end, description, augment,
                 loss_fn) -> FitResult:
    """``fit`` as one process of ``group`` (forgeml.training.distributed): every process runs this loop
    on its shard of the training batches; the main one alone reports and decides when to stop."""
    device = group.device
    layout = memory_format(device, config.memory_format)
    model.to(device, memory_format=layout)  # the layout is a no-op for models without 4-d weights
    if augment is not None:
        augment.to(device)
    trained = group.wrap(_compiled(model, device) if config.compile else model)
    graphed = config.compile and device.type == "cuda"
    optimizer = _optimizer(model, config, device)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs) if config.scheduler == "cosine" else None
    step_scheduler = _warmup_then_decay(optimizer, config.epochs * len(train_batches), config.warmup_ratio) \
        if config.scheduler == "linear" else None
    result = FitResult(history={"train_loss": [], "val_loss": [], "val_accuracy": [], "lr": []}, device=str(device))
    best_loss, best_state, stale = math.inf, None, 0
    reports = config.progress and group.is_main
    cast = autocast(device, config.precision, model)
    penalized = bool(config.l1 or config.l2)

    epochs = progress.bar(range(config.epochs), shown=reports, desc=description, unit="epoch", leave=False)
    for epoch in epochs:
        trained.train()
        # The loss summed on the device, weighted by batch size, and read once an epoch: an .item() per step
        # would make the host wait for the GPU at every batch.
        loss_sum, rows = torch.zeros((), device=device), 0
        steps = progress.bar(group.shard(train_batches), shown=reports and len(train_batches) >= LONG_EPOCH,
                             desc=f"epoch {epoch + 1}", unit="batch", leave=False)
        for inputs, labels in steps:
            inputs, labels = _to_device(inputs, device, layout), labels.to(device, non_blocking=True)
            if augment is not None:
                with torch.no_grad():
                    inputs = augment(inputs)
            if graphed:  # a new training step: the graphs' previous outputs may be overwritten
                torch.compiler.cudagraph_mark_step_begin()
            with cast:
                logits = trained(inputs).float()
                loss = F.cross_entropy(logits, labels) if loss_fn is None else loss_fn(logits, labels, inputs)
            optimizer.zero_grad(set_to_none=True)
            (loss + _penalty(model, config.l1, config.l2) if penalized else loss).backward()
            optimizer.step()
            if step_scheduler is not None:
                step_scheduler.step()
            loss_sum.add_(loss.detach(), alpha=labels.numel())
            rows += labels.numel()
        learning_rate = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        train_loss = (group.sum(loss_sum) / group.sum(torch.tensor(float(rows), device=device))).item()
        val_loss, val_accuracy = _evaluate(model, val_batches, device, cast, layout)
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy, "lr": learning_rate}
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise TrainingDiverged(
                f"{description}: the loss is not finite at epoch {epoch + 1} (train {train_loss}, validation "
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
    if reports and result.epochs_run:
        progress.done(logger, "%s: %d epochs%s; best validation loss %.4f (accuracy %.3f) at epoch %d", description,
                      result.epochs_run, " (stopped early)" if result.stopped_early else "",
                      result.history["val_loss"][result.best_epoch], result.history["val_accuracy"][result.best_epoch],
                      result.best_epoch + 1)
    model.to(memory_format=torch.contiguous_format)  # what pruning's flat views, INT8 export and serving take
    model.eval()
    return result
