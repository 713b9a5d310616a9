"""Every candidate of a text experiment side by side, in one run: accuracy, size and latency.

Reads what `make run EXPERIMENT=reviews` left (the candidates, trained and compressed, and the test
split), then times each candidate alternately, call by call, against the reference (TF-IDF + logistic
regression by default) on fixed threads, at batch 1 and batch 32 (median and p95 of the per-pair
ratios, and each one's own median in ms). Texts are raw strings: tokenization is part of the time.
Writes benchmarks/reports/text_<experiment>.{json,md}.

    python benchmarks/text.py --experiment reviews [--pairs 15] [--threads 2] [--batch 32] [--reference tfidf_logreg]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.evaluate import measure_latency_side_by_side, serialized_size, tensor_bytes

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="reviews")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project whose data/ to read")
    parser.add_argument("--text-column", default="review")
    parser.add_argument("--target", default="score")
    parser.add_argument("--reference", default="tfidf_logreg")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    models, split = args.root / "data/06_models" / args.experiment, args.root / "data/05_model_input" / args.experiment
    paths = [models / "candidates.pkl", split / "test.parquet"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"Missing {', '.join(missing)}: run `make run EXPERIMENT={args.experiment}` first.")
    candidates = pickle.loads(paths[0].read_bytes())
    compressed_path = models / "compressed_candidates.pkl"
    if compressed_path.exists():
        candidates.update(pickle.loads(compressed_path.read_bytes()))
    if args.reference not in candidates:
        sys.exit(f"No candidate {args.reference!r}; candidates: {', '.join(candidates)}.")
    test = pd.read_parquet(paths[1])
    texts, labels = test[args.text_column].astype(str).to_numpy(object), test[args.target].to_numpy()
    rng = np.random.default_rng(0)
    batches = {1: texts[:1], args.batch: texts[rng.integers(0, len(texts), args.batch)]}

    reference = candidates[args.reference]
    rows = []
    for name, classifier in candidates.items():
        row = {"candidate": name, "accuracy": float(np.mean(classifier.predict(texts) == labels)),
               "file_bytes": serialized_size(classifier), "tensor_bytes": tensor_bytes(classifier)}
        for size, batch in batches.items():
            if name == args.reference:
                timing = measure_latency_side_by_side([classifier.predict_proba], batch, args.pairs, threads=args.threads)[0]
                row[f"latency_b{size}_p50_ms"], row[f"latency_b{size}_ratio_p50"] = timing["p50_ms"], 1.0
                continue
            base, own = measure_latency_side_by_side([reference.predict_proba, classifier.predict_proba], batch, args.pairs,
                                                     threads=args.threads)
            row[f"latency_b{size}_p50_ms"] = own["p50_ms"]
            row[f"latency_b{size}_ratio_p50"], row[f"latency_b{size}_ratio_p95"] = own["ratio_p50"], own["ratio_p95"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    report = {"experiment": args.experiment, "reference": args.reference, "pairs": args.pairs, "threads": args.threads,
              "batch": args.batch, "test_rows": len(test), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"text_{args.experiment}.json").write_text(json.dumps(report, indent=2))
    big = args.batch
    lines = [
        f"# Text candidates: {args.experiment} ({len(test)} test reviews; latency alternated with {args.reference}, "
        f"{args.pairs} pairs, {args.threads} thread(s), raw strings in)", "",
        f"| candidate | accuracy | file size | tensor bytes | latency b1 p50 | latency b{big} p50 | b{big} vs {args.reference} (p50) |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r['candidate']} | {r['accuracy']:.4f} | {r['file_bytes'] / 2**20:.1f} MiB | {r['tensor_bytes'] / 2**20:.1f} MiB | "
          f"{r['latency_b1_p50_ms']:.2f} ms | {r[f'latency_b{big}_p50_ms']:.1f} ms | {r[f'latency_b{big}_ratio_p50']:.2f}x |"
          for r in rows),
    ]
    (args.out / f"text_{args.experiment}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
