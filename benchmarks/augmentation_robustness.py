"""Does augmentation buy robustness, and at what training cost? The digits ResNet trained with its augmentation
policy, with that policy less its Gaussian noise, and with none.

The variants use the model, training options and augmentation policy of conf/experiments/digits, the same
split and the same seeds, alternated seed by seed on fixed threads; each is scored on the test split under the
Gaussian-noise levels of conf/base/parameters_evaluate.yml. The report gives, per seed and as the median over
seeds, clean accuracy, accuracy at the middle noise level and mean accuracy over the levels (what the release's
`min_robustness` reads), and the training time: seconds, epochs run (early stopping) and seconds per epoch.
Writes benchmarks/reports/augmentation_robustness.{json,md}.

    python benchmarks/augmentation_robustness.py [--seeds 0 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from forgeml.data.images import images_to_table, load_bundled_images
from forgeml.evaluate.footprint import measurement_environment
from forgeml.modality import modality_of
from forgeml.training import Candidate, TrainingData, train_candidate

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    spec = yaml.safe_load((ROOT / "conf/experiments/digits/parameters_train.yml").read_text())["train"]["candidates"]["resnet"]
    experiment = {"name": "digits", "target": "target",
                  **yaml.safe_load((ROOT / "conf/experiments/digits/parameters.yml").read_text())["experiment"]}
    modality, image = modality_of(experiment), experiment["image"]
    noise = yaml.safe_load((ROOT / "conf/base/parameters_evaluate.yml").read_text())["evaluate"]["robustness"]["levels"]["noise"]
    middle = len(noise) // 2 + 1  # index in the curve, whose first point is the clean accuracy
    table = images_to_table(load_bundled_images("digits"), int(image["size"]), "target")
    train, val, test = modality.split(table, 0.2, 0.15, seed=42)
    features, labels = modality.inputs(test), test["target"].to_numpy()
    tensors = modality.tensors({"train": train, "val": val})

    policy = spec["augmentation"]
    variants = {"policy": policy, "policy without noise": {k: v for k, v in policy.items() if k != "gaussian_noise"},
                "none": {}}
    rows = []
    for seed in args.seeds:
        for variant, augmentation in variants.items():
            recipe = {**spec, "augmentation": augmentation, "training": {**spec["training"], "progress": False}}
            started = time.perf_counter()
            classifier, info = train_candidate(Candidate.declared("resnet", recipe, modality, seed), TrainingData(modality, train, val, tensors))
            seconds = time.perf_counter() - started
            curve = modality.robustness(classifier.predict_proba, features, labels, classifier.classes_,
                                        {"noise": noise}, 0)["noise"]
            rows.append({"seed": seed, "variant": variant, "clean": curve["accuracy"][0],
                         "noise_std": curve["levels"][middle], "at_middle_noise": curve["accuracy"][middle],
                         "mean_under_noise": statistics.mean(curve["accuracy"][1:]), "train_seconds": seconds,
                         "epochs": info["epochs_run"], "seconds_per_epoch": seconds / info["epochs_run"]})
            print(rows[-1], flush=True)

    def median(key, variant):
        return statistics.median(r[key] for r in rows if r["variant"] == variant)

    keys = ("clean", "at_middle_noise", "mean_under_noise", "train_seconds", "epochs", "seconds_per_epoch")
    report = {
        "benchmark": "augmentation_robustness",
        "what": "digits ResNet: test accuracy clean and under Gaussian noise, and training time, per augmentation variant",
        "noise_std": rows[0]["noise_std"], "noise_levels": noise,
        "medians": {variant: {key: median(key, variant) for key in keys} for variant in variants},
        "runs": rows, "variants": variants, "environment": measurement_environment(args.threads),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "augmentation_robustness.json").write_text(json.dumps(report, indent=2))
    machine = report["environment"]
    markdown = "\n".join([
        "# Augmentation, robustness and training time (digits ResNet)",
        "",
        f"Median over seeds {args.seeds}; {args.threads} threads on {machine['cpu']} ({', '.join(machine['instruction_sets'])}); "
        f"middle noise std {report['noise_std']}, mean over the levels {noise} (pixels in [0, 1]).",
        "",
        "| augmentation | clean accuracy | at middle noise | mean under noise | train s | epochs | s per epoch |",
        "|---|---|---|---|---|---|---|",
        *(f"| {variant} | {m['clean']:.4f} | {m['at_middle_noise']:.4f} | {m['mean_under_noise']:.4f} | "
          f"{m['train_seconds']:.1f} | {m['epochs']:.0f} | {m['seconds_per_epoch']:.2f} |"
          for variant, m in report["medians"].items()),
    ])
    (args.out / "augmentation_robustness.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
