"""Does augmentation buy robustness? The digits ResNet trained with and without its augmentation policy.

Both variants use the model, training options and augmentation policy of conf/experiments/digits (the policy
is dropped for the second), the same split and the same seeds; each is scored on the test split
under the Gaussian-noise levels of conf/base/parameters_evaluate.yml. The report gives, per seed
and as the median over seeds, clean accuracy and accuracy at the middle noise level.
Writes benchmarks/reports/augmentation_robustness.{json,md}.

    python benchmarks/augmentation_robustness.py [--seeds 0 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import yaml

from forgeml.data.images import images_to_table, load_bundled_images
from forgeml.modality import modality_of
from forgeml.training import train_candidate

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
    table, _ = images_to_table(load_bundled_images("digits"), int(image["size"]), "target")
    train, val, test = modality.split(table, 0.2, 0.15, seed=42)
    features, labels = modality.inputs(test), test["target"].to_numpy()
    tensors = modality.tensors({"train": train, "val": val})

    rows = []
    for seed in args.seeds:
        for augmented in (True, False):
            variant = {**spec, "augmentation": spec["augmentation"] if augmented else {},
                       "training": {**spec["training"], "progress": False}}
            classifier, _ = train_candidate("resnet", variant, modality, train, val, tensors, seed)
            curve = modality.robustness(classifier.predict_proba, features, labels, classifier.classes_,
                                        {"noise": noise}, 0)["noise"]
            rows.append({"seed": seed, "augmentation": augmented, "clean": curve["accuracy"][0],
                         "noise_std": curve["levels"][middle], "at_middle_noise": curve["accuracy"][middle]})
            print(rows[-1], flush=True)

    def median(key, augmented):
        return statistics.median(r[key] for r in rows if r["augmentation"] == augmented)

    report = {
        "benchmark": "augmentation_robustness",
        "what": "digits ResNet, test accuracy clean and at the middle Gaussian-noise level, with and without augmentation",
        "noise_std": rows[0]["noise_std"],
        "median_clean_with": median("clean", True), "median_clean_without": median("clean", False),
        "median_noise_with": median("at_middle_noise", True), "median_noise_without": median("at_middle_noise", False),
        "runs": rows, "policy": spec["augmentation"], "threads": args.threads, "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "augmentation_robustness.json").write_text(json.dumps(report, indent=2))
    markdown = "\n".join([
        "# Augmentation and robustness (digits ResNet)",
        "",
        f"Median over seeds {args.seeds}; noise std {report['noise_std']} (pixels in [0, 1]).",
        "",
        "| augmentation | clean accuracy | accuracy under noise |",
        "|---|---|---|",
        f"| on | {report['median_clean_with']:.4f} | {report['median_noise_with']:.4f} |",
        f"| off | {report['median_clean_without']:.4f} | {report['median_noise_without']:.4f} |",
    ])
    (args.out / "augmentation_robustness.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
