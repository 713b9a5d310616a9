"""Data-parallel training: samples per second with ``training.processes: 2`` against 1, same model and data.

The digits ResNet (``--model resnet``, the default) or the breast-cancer MLP is trained through
``forgeml.training.fit`` with one process using every core (``--threads``, default all) and with two
processes sharing them (forgeml.training.distributed gives each ``cores // 2`` threads), alternated call
by call. Throughput is the steady state: training rows per second from the end of the first epoch to the
end of the last (each epoch includes its validation pass); start-up (spawning and joining the workers)
is reported apart. The report gives the median over the pairs of throughput(2) / throughput(1).
Writes benchmarks/reports/distributed_<model>.{json,md}.

    python benchmarks/distributed.py [--model resnet|mlp] [--pairs 15] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from forgeml.training import TrainConfig, TensorBatches, fit
from training_loop import BATCH_SIZE, data, fresh_model


def train(model: str, train_split, val_split, epochs: int, processes: int) -> dict[str, float]:
    module = fresh_model(model, train_split[0])
    ended: list[float] = []
    config = TrainConfig(epochs=epochs, batch_size=2 * BATCH_SIZE, patience=epochs + 1, progress=False, device="cpu",
                         processes=processes)
    start = time.perf_counter()
    fit(module, TensorBatches(*train_split, config.batch_size, shuffle=True, drop_last=True),
        TensorBatches(*val_split, 1024), config, on_epoch_end=lambda epoch, metrics: ended.append(time.perf_counter()))
    total = time.perf_counter() - start
    steady = ended[-1] - ended[0]
    return {"samples_per_s": len(train_split[1]) * (epochs - 1) / steady,
            "startup_s": total - steady - steady / (epochs - 1)}  # all but the epochs' own time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("resnet", "mlp"), default="resnet")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="of the single process")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is warm-up")

    torch.set_num_threads(args.threads)
    train_split, val_split = data(args.model)
    for processes in (1, 2):  # warm-up
        train(args.model, train_split, val_split, 2, processes)
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for pair in range(args.pairs):
        for processes in ((1, 2) if pair % 2 == 0 else (2, 1)):
            runs[processes].append(train(args.model, train_split, val_split, args.epochs, processes))
            print({"pair": pair, "processes": processes, **runs[processes][-1]}, flush=True)
    ratios = [two["samples_per_s"] / one["samples_per_s"] for one, two in zip(runs[1], runs[2])]
    report = {
        "benchmark": "distributed",
        "what": f"training samples/s of the {args.model}, 2 data-parallel processes (gloo) against 1",
        "model": args.model,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "samples_per_s_median": {k: statistics.median(r["samples_per_s"] for r in v) for k, v in runs.items()},
        "startup_s_median": {k: statistics.median(r["startup_s"] for r in v) for k, v in runs.items()},
        "pairs": args.pairs,
        "epochs": args.epochs,
        "threads_single": args.threads,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"distributed_{args.model}.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        f"# Data-parallel training ({args.model})",
        "",
        f"{report['what']}; median of {args.pairs} alternated pairs, {args.epochs} epochs, {os.cpu_count()} cores.",
        "",
        "| ratio (median) | min | max | 1 process | 2 processes | start-up, 1 | start-up, 2 |",
        "|---|---|---|---|---|---|---|",
        f"| {report['ratio_median']:.3f} | {report['ratio_min']:.3f} | {report['ratio_max']:.3f} "
        f"| {report['samples_per_s_median'][1]:.0f}/s | {report['samples_per_s_median'][2]:.0f}/s "
        f"| {report['startup_s_median'][1]:.2f} s | {report['startup_s_median'][2]:.2f} s |",
    ])
    (args.out / f"distributed_{args.model}.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
