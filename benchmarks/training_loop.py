"""ForgeML's training loop against a minimal hand-written PyTorch loop: same MLP, data and epochs.

Both variants train from the same initial weights on the breast-cancer training split. They are
alternated call by call (A, B, A, B, ...) with torch fixed to one thread, and the report gives the
median over the pairs of time(hand-written) / time(ForgeML): 1.0 means no overhead, 0.9 means the
platform loop takes about 11% longer. Writes benchmarks/reports/training_loop.{json,md}.

    python benchmarks/training_loop.py [--pairs 15] [--epochs 20] [--threads 1]
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

from forgeml.data import load_bundled, split_table
from forgeml.models import build_model
from forgeml.training import TrainConfig, fit, TensorBatches

MLP = {"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.2, "batch_norm": True}
BATCH_SIZE = 32


def data():
    train, val, _ = split_table(load_bundled("breast_cancer"), "target", 0.2, 0.15, seed=42)
    tensors = [(torch.tensor(f.drop(columns="target").to_numpy("float32")), torch.tensor(f["target"].to_numpy()))
               for f in (train, val)]
    return tensors


def fresh_model(x_train: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    return build_model(MLP, x_train.shape[1], 2, x_train.mean(0), x_train.std(0))


def forgeml_loop(train, val, epochs: int) -> float:
    model = fresh_model(train[0])
    config = TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, patience=epochs + 1, progress=False, seed=0, device="cpu")
    start = time.perf_counter()
    fit(model, TensorBatches(*train, BATCH_SIZE, shuffle=True), TensorBatches(*val, 1024), config)
    return time.perf_counter() - start


def minimal_loop(train, val, epochs: int) -> float:
    """The loop a careful person writes by hand: shuffle, step, and a validation pass per epoch."""
    model = fresh_model(train[0])
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
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")

    torch.set_num_threads(args.threads)
    train, val = data()
    forgeml_loop(train, val, 2), minimal_loop(train, val, 2)  # warm-up
    pairs = []
    for index in range(args.pairs):
        first, second = (forgeml_loop, minimal_loop) if index % 2 == 0 else (minimal_loop, forgeml_loop)
        times = {first.__name__: first(train, val, args.epochs), second.__name__: second(train, val, args.epochs)}
        pairs.append(times)
    ratios = [p["minimal_loop"] / p["forgeml_loop"] for p in pairs]
    report = {
        "benchmark": "training_loop",
        "what": "time(minimal hand-written loop) / time(forgeml.training.fit), same MLP, data, epochs",
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
    (args.out / "training_loop.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        "# Training loop overhead",
        "",
        f"{report['what']}; median of {args.pairs} alternated pairs, {args.epochs} epochs, {args.threads} thread(s).",
        "",
        "| ratio (median) | min | max | ForgeML median | minimal median |",
        "|---|---|---|---|---|",
        f"| {report['ratio_median']:.3f} | {report['ratio_min']:.3f} | {report['ratio_max']:.3f} "
        f"| {report['forgeml_median_s']:.3f} s | {report['minimal_median_s']:.3f} s |",
    ])
    (args.out / "training_loop.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
