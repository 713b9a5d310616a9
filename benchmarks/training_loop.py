"""ForgeML's training loop against a minimal hand-written PyTorch loop: same model, data and epochs.

``--model mlp``: the MLP on the breast-cancer training split; ``--model resnet``: the digits
experiment's ResNet on 16x16 digits. Both variants train from the same initial weights. They are
alternated call by call (A, B, A, B, ...) with torch fixed to one thread, and the report gives the
median over the pairs of time(hand-written) / time(ForgeML): 1.0 means no overhead, 0.9 means the
platform loop takes about 11% longer. Writes benchmarks/reports/training_loop_<model>.{json,md}.

    python benchmarks/training_loop.py [--model mlp|resnet] [--pairs 15] [--epochs N] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from forgeml.data import load_bundled
from forgeml.data.images import images_to_table, load_bundled_images
from forgeml.modality import modality_of
from forgeml.models import build_model
from forgeml.training import TrainConfig, fit, TensorBatches

MODELS = {
    "mlp": {"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.2, "batch_norm": True},
    "resnet": {"family": "resnet", "block": "basic", "layers": [1, 1, 1], "base_width": 16},  # conf/digits
}
DEFAULT_EPOCHS = {"mlp": 30, "resnet": 3}
BATCH_SIZE = 32


def data(model: str):
    experiment = {"name": "benchmark", "target": "target"}
    if model == "mlp":
        table, modality = load_bundled("breast_cancer"), modality_of(experiment)
    else:
        table = images_to_table(load_bundled_images("digits"), 16, "target")
        modality = modality_of({**experiment, "modality": "image", "image": {"channels": 1, "size": 16}})
    train, val, _ = modality.split(table, 0.2, 0.15, seed=42)
    arrays = modality.tensors({"train": train, "val": val})
    return [(torch.tensor(modality.training_inputs(arrays[name])), torch.tensor(frame["target"].to_numpy()))
            for name, frame in (("train", train), ("val", val))]


def fresh_model(model: str, x_train: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    dims = (0,) if x_train.ndim == 2 else (0, 2, 3)
    mean, std = x_train.mean(dims, keepdim=True)[0], x_train.std(dims, keepdim=True)[0]
    return build_model(MODELS[model], tuple(x_train.shape[1:]), 10 if x_train.ndim == 4 else 2, mean, std)


def forgeml_loop(name: str, train, val, epochs: int) -> float:
    model = fresh_model(name, train[0])
    config = TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, patience=epochs + 1, progress=False, seed=0, device="cpu")
    start = time.perf_counter()
    fit(model, TensorBatches(*train, BATCH_SIZE, shuffle=True), TensorBatches(*val, 1024), config)
    return time.perf_counter() - start


def minimal_loop(name: str, train, val, epochs: int) -> float:
    """The loop a careful person writes by hand: shuffle, step, and a validation pass per epoch."""
    model = fresh_model(name, train[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = train
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 for mlp, 3 for resnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")

    args.epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    torch.set_num_threads(args.threads)
    train, val = data(args.model)
    forgeml_loop(args.model, train, val, 1), minimal_loop(args.model, train, val, 1)  # warm-up
    pairs = []
    for index in range(args.pairs):
        first, second = (forgeml_loop, minimal_loop) if index % 2 == 0 else (minimal_loop, forgeml_loop)
        times = {f.__name__: f(args.model, train, val, args.epochs) for f in (first, second)}
        pairs.append(times)
    ratios = [p["minimal_loop"] / p["forgeml_loop"] for p in pairs]
    report = {
        "benchmark": "training_loop",
        "what": f"time(minimal hand-written loop) / time(forgeml.training.fit), same {args.model}, data, epochs",
        "model": args.model,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "forgeml_median_s": statistics.median(p["forgeml_loop"] for p in pairs),
        "minimal_median_s": statistics.median(p["minimal_loop"] for p in pairs),
        "pairs": args.pairs,
        "epochs": args.epochs,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"training_loop_{args.model}.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        f"# Training loop overhead ({args.model})",
        "",
        f"{report['what']}; median of {args.pairs} alternated pairs, {args.epochs} epochs, {args.threads} thread(s).",
        "",
        "| ratio (median) | min | max | ForgeML median | minimal median |",
        "|---|---|---|---|---|",
        f"| {report['ratio_median']:.3f} | {report['ratio_min']:.3f} | {report['ratio_max']:.3f} "
        f"| {report['forgeml_median_s']:.3f} s | {report['minimal_median_s']:.3f} s |",
    ])
    (args.out / f"training_loop_{args.model}.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
