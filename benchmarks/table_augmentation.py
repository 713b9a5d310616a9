"""Does noise augmentation help a table MLP? The shipped MLP trained with and without a table policy.

For each bundled table (breast cancer; digits as 64 pixel features) and each seed, the MLP of
conf/experiments/breast_cancer is trained twice on the same content-hash split, with the policy and without
it, the two variants one after the other; each is scored on the test split: accuracy, log loss, and mean
accuracy under the Gaussian-noise levels of conf/base/parameters_evaluate.yml (robustness). The report
gives every run and the median over seeds. Writes benchmarks/reports/table_augmentation.{json,md}.

    python benchmarks/table_augmentation.py [--seeds 0 1 2 3 4] [--threads 2] [--noise 0.1] [--swap 0.1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import numpy as np
import torch
import yaml

from forgeml.data import load_bundled
from forgeml.modality import TableModality
from forgeml.training import Candidate, TrainingData, train_candidate

ROOT = Path(__file__).parents[1]


def main() -> None:
    from sklearn.metrics import accuracy_score, log_loss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=["breast_cancer", "digits"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1, help="noise.std of the policy")
    parser.add_argument("--swap", type=float, default=0.1, help="swap.p of the policy")
    parser.add_argument("--epochs", type=int, default=None, help="override the MLP's epochs (quick runs)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    spec = yaml.safe_load((ROOT / "conf/experiments/breast_cancer/parameters_train.yml").read_text())["train"]["candidates"]["mlp"]
    defaults = yaml.safe_load((ROOT / "conf/base/parameters_train.yml").read_text())["train"]["defaults"]
    training = {**defaults, **spec.get("training", {}), "progress": False, "device": "cpu",
                **({"epochs": args.epochs} if args.epochs else {})}
    levels = yaml.safe_load((ROOT / "conf/base/parameters_evaluate.yml").read_text())["evaluate"]["robustness"]["levels"]["noise"]
    policy = {"noise": {"std": args.noise}, "swap": {"p": args.swap}}

    rows = []
    for dataset in args.datasets:
        modality = TableModality({"name": dataset, "target": "target"})
        table = load_bundled(dataset)
        train, val, test = modality.split(table, 0.2, 0.15, seed=42)
        tensors = modality.tensors({"train": train, "val": val})
        features, labels = modality.inputs(test), test["target"].to_numpy()
        for seed in args.seeds:
            for augmented in (True, False):
                variant = {**spec, "training": training, "augmentation": policy if augmented else {}}
                classifier, _ = train_candidate(Candidate.declared("mlp", variant, modality, seed), TrainingData(modality, train, val, tensors))
                probabilities = classifier.predict_proba(features)
                curve = modality.robustness(classifier.predict_proba, features, labels, classifier.classes_,
                                            {"noise": levels}, 0)["noise"]
                rows.append({"dataset": dataset, "seed": seed, "augmentation": augmented,
                             "accuracy": float(accuracy_score(labels, classifier.classes_[probabilities.argmax(1)])),
                             "log_loss": float(log_loss(labels, probabilities, labels=classifier.classes_)),
                             "robustness_noise": float(np.mean(curve["accuracy"][1:]))})
                print(rows[-1], flush=True)

    def median(dataset, key, augmented):
        return statistics.median(r[key] for r in rows if r["dataset"] == dataset and r["augmentation"] == augmented)

    summary = {dataset: {f"{key}_{'on' if on else 'off'}": median(dataset, key, on)
                         for key in ("accuracy", "log_loss", "robustness_noise") for on in (True, False)}
               for dataset in args.datasets}
    report = {"benchmark": "table_augmentation", "policy": policy, "seeds": args.seeds, "summary": summary, "runs": rows,
              "threads": args.threads, "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table_augmentation.json").write_text(json.dumps(report, indent=2))
    lines = ["# Table augmentation (the breast cancer MLP recipe)", "",
             f"Policy {policy}; median over seeds {args.seeds}; noise levels {levels}.", "",
             "| data | augmentation | test accuracy | log loss | accuracy under noise |", "|---|---|---|---|---|"]
    for dataset, values in summary.items():
        for on in ("on", "off"):
            lines.append(f"| {dataset} | {on} | {values[f'accuracy_{on}']:.4f} | {values[f'log_loss_{on}']:.4f} | "
                         f"{values[f'robustness_noise_{on}']:.4f} |")
    (args.out / "table_augmentation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
