"""The GPU path end to end: ResNet on synthetic 32x32 RGB images through forgeml.training.fit, fp32 against bf16.

Run it once on a machine with a GPU (it also runs, slowly, on the CPU: pass --steps 5). Each
variant trains ``--steps`` steps per call on data already on the device, with the platform's
channels_last layout on CUDA; fp32 and bf16 calls are alternated, and the report gives median
images per second for each and their ratio. Writes benchmarks/reports/gpu_throughput.{json,md}.

    python benchmarks/gpu_throughput.py [--steps 300] [--batch-size 256] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from forgeml.models import build_model
from forgeml.training import TrainConfig, fit, resolve_device, TensorBatches

RESNET = {"family": "resnet", "block": "basic", "layers": [2, 2, 2], "base_width": 32}
SHAPE = (3, 32, 32)


def images_per_second(precision: str, batches: TensorBatches, device: torch.device) -> float:
    torch.manual_seed(0)
    model = build_model(RESNET, SHAPE, 10)
    config = TrainConfig(epochs=1, precision=precision, device=str(device), progress=False, patience=2)
    val = TensorBatches(batches.features[:256], batches.labels[:256], 256)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fit(model, batches, val, config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(batches.labels) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    device = resolve_device("auto")
    generator = torch.Generator().manual_seed(0)
    count = args.steps * args.batch_size
    features = torch.rand(count, *SHAPE, generator=generator).to(device)
    labels = torch.randint(0, 10, (count,), generator=generator).to(device)
    batches = TensorBatches(features, labels, args.batch_size, shuffle=True)
    images_per_second("fp32", TensorBatches(features[: 4 * args.batch_size], labels[: 4 * args.batch_size], args.batch_size), device)
    results = {"fp32": [], "bf16": []}
    for index in range(args.pairs):
        for precision in (("fp32", "bf16") if index % 2 == 0 else ("bf16", "fp32")):
            results[precision].append(images_per_second(precision, batches, device))
    report = {
        "benchmark": "gpu_throughput",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "steps": args.steps, "batch_size": args.batch_size, "pairs": args.pairs,
        "fp32_images_per_s": statistics.median(results["fp32"]),
        "bf16_images_per_s": statistics.median(results["bf16"]),
        "torch": torch.__version__,
    }
    report["bf16_speedup"] = report["bf16_images_per_s"] / report["fp32_images_per_s"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_throughput.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        f"# ResNet training throughput on {report['device']}",
        "",
        f"{args.steps} steps of batch {args.batch_size}, synthetic 3x32x32 images, median of {args.pairs} alternated runs.",
        "",
        "| fp32 images/s | bf16 images/s | bf16 / fp32 |",
        "|---|---|---|",
        f"| {report['fp32_images_per_s']:.0f} | {report['bf16_images_per_s']:.0f} | {report['bf16_speedup']:.2f} |",
    ])
    (args.out / "gpu_throughput.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
