"""Every candidate of a text experiment side by side, in one run: accuracy, size and latency.

Reads what `make run EXPERIMENT=reviews` left (the candidates, trained and compressed, and the test
split), then times each candidate alternately, call by call, against the reference (TF-IDF + logistic
regression by default) on fixed threads, at batch 1 and batch 32 (median and p95 of the per-pair
ratios, and each one's own median in ms). Texts are raw strings: tokenization is part of the time.
A compressed candidate (distilled student, INT8) is also timed against its base model alone, module
against module on one batch of token ids (batch x max_length), which is how the compression bars are set.
Writes benchmarks/reports/text_<experiment>.{json,md}.

    python benchmarks/text.py --experiment reviews [--pairs 15] [--threads 2] [--batch 32] [--reference tfidf_logreg]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.datasets import VerifiedClassifiersDataset
from forgeml.evaluate import fixed_threads, measure_latency_side_by_side, serialized_size, tensor_bytes

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
    paths = [models / "candidates.zip", split / "test.parquet"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"Missing {', '.join(missing)}: run `make run EXPERIMENT={args.experiment}` first.")
    lock = str(args.root / "dvc.lock")
    candidates = VerifiedClassifiersDataset(filepath=str(paths[0]), dvc_lock=lock).load()
    compressed_path = models / "compressed_candidates.zip"
    bases = {}
    if compressed_path.exists():
        candidates.update(VerifiedClassifiersDataset(filepath=str(compressed_path), dvc_lock=lock).load())
        infos = json.loads((models / "compression_info.json").read_text())
        bases = {name: info["compression"]["base"] for name, info in infos.items()}
    if args.reference not in candidates:
        sys.exit(f"No candidate {args.reference!r}; candidates: {', '.join(candidates)}.")
    test = pd.read_parquet(paths[1])
    texts, labels = test[args.text_column].astype(str).to_numpy(object), test[args.target].to_numpy()
    rng = np.random.default_rng(0)
    batches = {1: texts[:1], args.batch: texts[rng.integers(0, len(texts), args.batch)]}

    reference = candidates[args.reference]
    rows = []
    with fixed_threads(args.threads):  # scored on the threads they are timed on: an INT8 model compiles once
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
            if name in bases:
                row.update(_against_base(classifier, candidates[bases[name]], batches[args.batch], args))
                row["base"], row["accuracy_ratio_to_base"] = bases[name], row["accuracy"] / next(
                    r["accuracy"] for r in rows if r["candidate"] == bases[name])
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
        f"| candidate | accuracy | file size | tensor bytes | latency b1 p50 | latency b{big} p50 | b{big} vs {args.reference} (p50) "
        f"| compressed: accuracy, size, b{big} tokens latency vs base (p50 / p95) |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r['candidate']} | {r['accuracy']:.4f} | {r['file_bytes'] / 2**20:.1f} MiB | {r['tensor_bytes'] / 2**20:.1f} MiB | "
          f"{r['latency_b1_p50_ms']:.2f} ms | {r[f'latency_b{big}_p50_ms']:.1f} ms | {r[f'latency_b{big}_ratio_p50']:.2f}x | "
          + (f"{r['accuracy_ratio_to_base']:.3f}x, {r['tensor_bytes_ratio_to_base']:.2f}x, {r['tokens_ratio_to_base_p50']:.2f}x / "
             f"{r['tokens_ratio_to_base_p95']:.2f}x of `{r['base']}` |" if "base" in r else "- |")
          for r in rows),
    ]
    (args.out / f"text_{args.experiment}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _against_base(classifier, base, texts, args) -> dict[str, float]:
    """The compressed module against its base's, alternated call by call on one batch of token ids."""
    import torch

    from forgeml.text.tokenization import tokenize

    with torch.inference_mode():  # tokens made here, as the classifiers make theirs: an INT8 module compiled for
        # inference tensors would compile again for a normal one (dynamo guards on the dispatch keys)
        tokens = torch.from_numpy(tokenize(texts, base.tokenizer, base.max_length))
        _, own = measure_latency_side_by_side([base.module, classifier.module], tokens, args.pairs, threads=args.threads)
    return {"tokens_ratio_to_base_p50": own["ratio_p50"], "tokens_ratio_to_base_p95": own["ratio_p95"],
            "tokens_p50_ms": own["p50_ms"], "tokens_shape": list(tokens.shape),
            "tensor_bytes_ratio_to_base": tensor_bytes(classifier) / tensor_bytes(base)}


if __name__ == "__main__":
    main()
