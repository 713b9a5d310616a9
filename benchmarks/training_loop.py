"""ForgeML's training loop against a minimal hand-written PyTorch loop, or its splits on the device whole against
the same splits read through the loader: same model, data and epochs.

``--model mlp``: the MLP on the breast-cancer training split; ``--model resnet``: the digits
experiment's ResNet on 16x16 digits. Both variants train from the same initial weights. They are
alternated call by call (A, B, A, B, ...) with torch fixed to one thread, and the report gives the
median over the pairs of time(baseline) / time(ForgeML): 1.0 means no overhead, 0.9 means the
platform takes about 11% longer.

``--against minimal`` (the default): the baseline is a hand-written loop on in-memory tensors.
``--against resident``: the baseline is ``fit`` on the splits whole in memory (``ResidentSplit``, what the
bundled experiments train on), and ForgeML's variant reads the same splits through the DataLoader
(``LoadedSplit``), from the kept arrays memory-mapped from a ``tensors.npz`` (8-bit pixels for images), with
``--workers`` loader processes: the ratio is the loader's samples per second over the in-memory ones.
Writes benchmarks/reports/training_loop_<model>[_loader].{json,md}.

    python benchmarks/training_loop.py [--model mlp|resnet] [--against minimal|resident] [--workers 0]
                                       [--pairs 15] [--epochs N] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from forgeml.data import load_bundled
from forgeml.data.images import images_to_table, load_bundled_images
from forgeml.modality import modality_of
from forgeml.models import build_model
from forgeml.datasets import VerifiedArraysDataset
from forgeml.training import TrainConfig, TrainingData, fit

MODELS = {
    "mlp": {"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.2, "batch_norm": True},
    "resnet": {"family": "resnet", "block": "basic", "layers": [1, 1, 1], "base_width": 16},  # conf/digits
}
DEFAULT_EPOCHS = {"mlp": 30, "resnet": 3}
BATCH_SIZE = 32


def training_data(model: str, folder: Path) -> TrainingData:
    """The model's splits as the data stage keeps them: the arrays written to and memory-mapped from ``folder``."""
    experiment = {"name": "benchmark", "target": "target"}
    if model == "mlp":
        table, modality = load_bundled("breast_cancer"), modality_of(experiment)
    else:
        table = images_to_table(load_bundled_images("digits"), 16, "target")
        modality = modality_of({**experiment, "modality": "image", "image": {"channels": 1, "size": 16}})
    train, val, _ = modality.split(table, 0.2, 0.15, seed=42)
    kept = VerifiedArraysDataset(filepath=str(folder / "tensors.npz"), dvc_lock=str(folder / "dvc.lock"))
    kept.save(modality.tensors({"train": train, "val": val}))
    return TrainingData(modality, train, val, kept.load())


def splits(data: TrainingData, resident: bool = True, workers: int = 0):
    """The train and validation splits on the CPU: whole in memory, or (``resident=False``) through the loader."""
    return data.on(TrainConfig(device="cpu", resident_mb=1024 if resident else 0, loader_workers=workers))


def fresh_model(name: str, data: TrainingData, on_device) -> nn.Module:
    torch.manual_seed(0)
    return build_model(MODELS[name], on_device.shape, len(on_device.classes),
                       data.modality.input_layers(on_device.train.moments()))


def forgeml_fit(name: str, data: TrainingData, on_device, epochs: int) -> float:
    model = fresh_model(name, data, on_device)
    config = TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, patience=epochs + 1, progress=False, seed=0, device="cpu")
    start = time.perf_counter()
    fit(model, on_device.train.batches(BATCH_SIZE, shuffle=True), on_device.val.batches(1024), config)
    return time.perf_counter() - start


def minimal_loop(name: str, data: TrainingData, on_device, epochs: int) -> float:
    """The loop a careful person writes by hand: shuffle, step, and a validation pass per epoch."""
    model = fresh_model(name, data, on_device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = on_device.train.inputs, on_device.train.labels
    val = on_device.val.inputs, on_device.val.labels
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), BATCH_SIZE):
            index = order[begin : begin + BATCH_SIZE]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            F.cross_entropy(model(val[0]), val[1]).item()
    return time.perf_counter() - start


def timed_pair(variants: dict, index: int) -> dict[str, float]:
    """Each variant's seconds, in turn: the first one first in even pairs, last in odd ones."""
    order = list(variants) if index % 2 == 0 else list(reversed(variants))
    return {name: variants[name]() for name in order}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 for mlp, 3 for resnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", choices=("minimal", "resident"), default="minimal",
                        help="the baseline: a hand-written loop, or fit on the splits whole in memory (ForgeML then loads)")
    parser.add_argument("--workers", type=int, default=0, help="--against resident: the loader's worker processes")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")

    args.epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        data = training_data(args.model, Path(folder))
        in_memory = splits(data)
        if args.against == "minimal":
            variants = {"forgeml": lambda: forgeml_fit(args.model, data, in_memory, args.epochs),
                        "baseline": lambda: minimal_loop(args.model, data, in_memory, args.epochs)}
            what, name = "time(minimal hand-written loop) / time(forgeml.training.fit)", f"training_loop_{args.model}"
        else:
            loaded = splits(data, resident=False, workers=args.workers)
            variants = {"forgeml": lambda: forgeml_fit(args.model, data, loaded, args.epochs),
                        "baseline": lambda: forgeml_fit(args.model, data, in_memory, args.epochs)}
            what = (f"time(fit on the splits in memory) / time(fit through the DataLoader, {args.workers} worker(s), "
                    "from the memory-mapped kept arrays): the loader's samples per second over the in-memory ones")
            name = f"training_loop_{args.model}_loader"
        pairs = [timed_pair(variants, index) for index in range(args.pairs + 1)][1:]  # the first pair warms up
    ratios = [p["baseline"] / p["forgeml"] for p in pairs]
    report = {
        "benchmark": "training_loop",
        "what": f"{what}, same {args.model}, data, epochs",
        "model": args.model,
        "against": args.against,
        "workers": args.workers,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "forgeml_median_s": statistics.median(p["forgeml"] for p in pairs),
        "baseline_median_s": statistics.median(p["baseline"] for p in pairs),
        "train_rows": in_memory.train.rows,
        "pairs": args.pairs,
        "epochs": args.epochs,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        f"# Training loop overhead ({args.model}, against {args.against})",
        "",
        f"{report['what']}; median of {args.pairs} alternated pairs, {args.epochs} epochs, {args.threads} thread(s), "
        f"CPU {report['cpu']}.",
        "",
        "| ratio (median) | min | max | ForgeML median | baseline median |",
        "|---|---|---|---|---|",
        f"| {report['ratio_median']:.3f} | {report['ratio_min']:.3f} | {report['ratio_max']:.3f} "
        f"| {report['forgeml_median_s']:.3f} s | {report['baseline_median_s']:.3f} s |",
    ])
    (args.out / f"{name}.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
