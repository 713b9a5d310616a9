"""Each compressed candidate against its FP32 base, side by side in one run: size, latency, accuracy.

Reads what `make run EXPERIMENT=<name>` left (the trained and compressed candidates, the compression
record and the test split), then for every compressed candidate times it and its base alternately,
call by call, on fixed threads, at batch 1 and a large batch (median and p95 of the per-pair
ratios), and prints the size ratios (tensor bytes; for INT8, the quantized layers' bytes) and the
accuracy change on the test split. For distillation it also reports how much of the gap between
the student trained alone and the teacher the teacher closed.
Writes benchmarks/reports/compression_<experiment>.{json,md}.

    python benchmarks/compression.py --experiment breast_cancer [--pairs 15] [--threads 1] [--batch 256]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.config_loader import experiment_parameters
from forgeml.datasets import VerifiedClassifiersDataset
from forgeml.evaluate import fixed_threads, measure_latency_side_by_side, tensor_bytes
from forgeml.modality import modality_of

ROOT = Path(__file__).parents[1]


def accuracy(classifier, features: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(classifier.predict(features) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="breast_cancer")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project whose data/ to read")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    data = args.root / "data"
    paths = {
        "candidates": data / "06_models" / args.experiment / "candidates.zip",
        "compressed": data / "06_models" / args.experiment / "compressed_candidates.zip",
        "info": data / "06_models" / args.experiment / "compression_info.json",
        "test": data / "05_model_input" / args.experiment / "test.parquet",
    }
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        sys.exit(f"Missing {', '.join(missing)}: run `make run EXPERIMENT={args.experiment}` first.")
    lock = str(args.root / "dvc.lock")
    candidates = VerifiedClassifiersDataset(filepath=str(paths["candidates"]), dvc_lock=lock).load()
    compressed = VerifiedClassifiersDataset(filepath=str(paths["compressed"]), dvc_lock=lock).load()
    info = json.loads(paths["info"].read_text())
    test = pd.read_parquet(paths["test"])
    modality = modality_of(experiment_parameters(args.root / "conf", args.experiment)["experiment"])
    features, labels = modality.inputs(test), test[modality.target].to_numpy()
    rng = np.random.default_rng(0)
    batches = {1: features[:1], args.batch: features[rng.integers(0, len(features), args.batch)]}

    rows = []
    with fixed_threads(args.threads):  # scored on the threads they are timed on: an INT8 model compiles once
        for name, classifier in compressed.items():
            compression = info[name]["compression"]
            base = candidates[compression["base"]]
            row = {"candidate": name, "method": compression["method"], "base": compression["base"],
                   "accuracy_delta": accuracy(classifier, features, labels) - accuracy(base, features, labels),
                   "tensor_bytes_ratio": tensor_bytes(classifier) / tensor_bytes(base),
                   "quantized_layers_ratio": (compression["quantized_int8_bytes"] / compression["quantized_fp32_bytes"]
                                              if "quantized_fp32_bytes" in compression else None)}
            for size, batch in batches.items():
                timing = measure_latency_side_by_side([base.predict_proba, classifier.predict_proba], batch, args.pairs,
                                                      threads=args.threads)[1]
                row[f"latency_b{size}_ratio_p50"], row[f"latency_b{size}_ratio_p95"] = timing["ratio_p50"], timing["ratio_p95"]
            rows.append(row)
            print(json.dumps(row), flush=True)

    gaps = {}
    for name in compressed:
        alone = f"{name}_without_teacher"
        if info[name]["compression"]["method"] == "distillation" and alone in compressed:
            teacher = accuracy(candidates[info[name]["compression"]["base"]], features, labels)
            student, without = accuracy(compressed[name], features, labels), accuracy(compressed[alone], features, labels)
            gaps[name] = {"teacher": teacher, "student": student, "student_without_teacher": without,
                          "gap_closed": (student - without) / (teacher - without) if teacher != without else None}

    report = {"experiment": args.experiment, "pairs": args.pairs, "threads": args.threads, "batch": args.batch,
              "rows": rows, "distillation": gaps}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"compression_{args.experiment}.json").write_text(json.dumps(report, indent=2))
    big = args.batch

    def ratio(value):
        return "-" if value is None else f"{value:.2f}x"

    lines = [
        f"# Compression against FP32: {args.experiment} ({args.pairs} alternated pairs, {args.threads} thread(s))", "",
        f"| candidate | method | accuracy delta | tensor bytes | quantized layers | latency b1 p50 (p95) | latency b{big} p50 (p95) |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r['candidate']} | {r['method']} | {r['accuracy_delta']:+.4f} | {ratio(r['tensor_bytes_ratio'])} | "
          f"{ratio(r['quantized_layers_ratio'])} | {r['latency_b1_ratio_p50']:.2f}x ({r['latency_b1_ratio_p95']:.2f}x) | "
          f"{r[f'latency_b{big}_ratio_p50']:.2f}x ({r[f'latency_b{big}_ratio_p95']:.2f}x) |" for r in rows),
    ]
    for name, gap in gaps.items():
        closed = "n/a (the student alone matches the teacher)" if gap["gap_closed"] is None else f"{gap['gap_closed']:.0%}"
        lines.append(f"\n{name}: teacher {gap['teacher']:.4f}, student {gap['student']:.4f}, same student without "
                     f"the teacher {gap['student_without_teacher']:.4f}; gap closed: {closed}.")
    (args.out / f"compression_{args.experiment}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
