"""Tuning, measured: median pruner against none, TPE against random search, two workers against one.

All three tune the breast-cancer MLP over the search space of conf/experiments/breast_cancer/parameters_tune.yml (epochs
capped by --epochs so a study takes minutes). Each comparison alternates its two variants, seed
by seed (pair by pair), and reports medians. Writes benchmarks/reports/tuning.{json,md}.

    python benchmarks/tuning.py [pruning|samplers|workers|all] [--pairs 15] [--seeds 5]

- pruning: the same n_trials with MedianPruner and with none: epochs trained, best validation
  loss and wall time per study.
- samplers: per seed, the best validation loss of 100 random-search trials, then the number of
  TPE trials needed to match it (the median over seeds; 100 = not matched).
- workers: the same n_trials on one worker and on two worker processes sharing a SQLite study
  (one torch thread each): trials per minute from the first trial's start to the last one's end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch
import yaml

from forgeml.data import load_bundled
from forgeml.modality import TableModality, modality_of
from forgeml.training import train_candidate
from forgeml.tuning import SearchSpace, TuneSettings, apply_overrides, run_study
from forgeml.tuning.study import TrialData, counted_trials, create_or_join_study, study_name
from forgeml.tuning.trial_runs import ensure_study_run

ROOT = Path(__file__).parents[1]


def setup(epochs: int):
    train_params = {**yaml.safe_load((ROOT / "conf/base/parameters_train.yml").read_text())["train"],
                    **yaml.safe_load((ROOT / "conf/experiments/breast_cancer/parameters_train.yml").read_text())["train"]}
    tune_params = yaml.safe_load((ROOT / "conf/experiments/breast_cancer/parameters_tune.yml").read_text())["tune"]
    space = {k: v for k, v in tune_params["spaces"]["mlp"].items() if k != "training.epochs"}
    base = train_params["candidates"]["mlp"]
    base = {**base, "training": {**train_params["defaults"], **base["training"], "epochs": epochs, "progress": False, "device": "cpu"}}
    train, val, _ = TableModality({"name": "breast_cancer", "target": "target"}).split(load_bundled("breast_cancer"), 0.2, 0.15, seed=42)
    return base, space, train, val


def modality_and_tensors(train, val):
    modality = modality_of({"name": "breast_cancer", "target": "target", "modality": "table"})
    return modality, modality.tensors({"train": train, "val": val})


def objective_for(base, space, train, val, epochs_seen: list[int], pruning: bool):
    search = SearchSpace.from_config(space, "mlp")
    modality, tensors = modality_and_tensors(train, val)

    def objective(trial):
        spec = apply_overrides(base, search.suggest(trial))
        seen = [0]

        def report(epoch, metrics):
            seen[0] = epoch + 1
            if pruning:
                trial.report(metrics["val_loss"], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        try:
            _, info = train_candidate("trial", spec, modality, train, val, tensors, 0, report)
        finally:
            epochs_seen.append(seen[0])
        return min(info["history"]["val_loss"])

    return objective


def pruning(args) -> dict:
    base, space, train, val = setup(args.epochs)
    rows = []
    for pair in range(args.pairs):
        for pruned in ((True, False) if pair % 2 == 0 else (False, True)):
            epochs: list[int] = []
            pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5) if pruned else optuna.pruners.NopPruner()
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=pair), pruner=pruner)
            start = time.perf_counter()
            study.optimize(objective_for(base, space, train, val, epochs, pruned), n_trials=args.trials)
            rows.append({"seed": pair, "pruner": "median" if pruned else "none", "epochs": sum(epochs),
                         "best_val_loss": study.best_value, "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)

    def median(key, pruner):
        return statistics.median(r[key] for r in rows if r["pruner"] == pruner)

    return {
        "trials": args.trials, "pairs": args.pairs,
        "epochs_ratio": median("epochs", "median") / median("epochs", "none"),
        "seconds_ratio": statistics.median(_pair_ratios(rows, "seconds")),
        "best_val_loss": {"median": median("best_val_loss", "median"), "none": median("best_val_loss", "none")},
        "epochs": {"median": median("epochs", "median"), "none": median("epochs", "none")},
    }


def _pair_ratios(rows: list[dict], key: str) -> list[float]:
    """median-pruned / unpruned, pair by pair (rows come two per seed)."""
    by_seed: dict[int, dict[str, float]] = {}
    for row in rows:
        by_seed.setdefault(row["seed"], {})[row["pruner"]] = row[key]
    return [pair["median"] / pair["none"] for pair in by_seed.values()]


def samplers(args) -> dict:
    base, space, train, val = setup(args.epochs)
    rows = []
    for seed in range(args.seeds):
        random_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        random_study.optimize(objective_for(base, space, train, val, [], False), n_trials=100)
        target = random_study.best_value
        tpe = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        objective = objective_for(base, space, train, val, [], False)
        needed = 100
        for index in range(100):
            tpe.optimize(objective, n_trials=1)
            if tpe.best_value <= target:
                needed = index + 1
                break
        rows.append({"seed": seed, "random_best_of_100": target, "tpe_trials_to_match": needed})
        print(rows[-1], flush=True)
    return {"seeds": args.seeds, "tpe_trials_to_match_median": statistics.median(r["tpe_trials_to_match"] for r in rows), "runs": rows}


def workers(args) -> dict:
    base, space, train, val = setup(args.epochs)
    modality, tensors = modality_and_tensors(train, val)
    rates = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        tracking = f"sqlite:///{folder}/mlflow.db"
        for pair in range(args.pairs):
            for count in ((1, 2) if pair % 2 == 0 else (2, 1)):
                settings = TuneSettings(candidate="mlp", n_trials=args.worker_trials, space=space, pruner="none",
                                        storage=f"sqlite:///{folder}/pair{pair}_w{count}.db", workers=count, progress=False,
                                        seed=pair)
                name = study_name("bench", settings, base)
                run_id = ensure_study_run(*create_or_join_study(name, settings, args.epochs), tracking, "bench", None, {})
                study = run_study(settings, name, TrialData(train, val, tensors, modality, base, 0, "bench", tracking, run_id))
                trials = counted_trials(study)
                span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
                rates[count].append(len(trials) / span * 60)
                print({"pair": pair, "workers": count, "trials_per_minute": rates[count][-1]}, flush=True)
    ratios = [two / one for one, two in zip(rates[1], rates[2])]
    return {"pairs": args.pairs, "trials": args.worker_trials, "trials_per_minute": {k: statistics.median(v) for k, v in rates.items()},
            "ratio_median": statistics.median(ratios), "ratio_p95": sorted(ratios)[int(0.95 * (len(ratios) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=["pruning", "samplers", "workers", "all"])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--trials", type=int, default=16, help="trials per study (pruning)")
    parser.add_argument("--worker-trials", type=int, default=8, help="trials per study (workers)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    chosen = ["pruning", "samplers", "workers"] if args.which == "all" else [args.which]
    report = {name: globals()[name](args) for name in chosen}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tuning.json").write_text(json.dumps(report, indent=2, default=str))
    lines = ["# Tuning benchmarks", ""]
    if "pruning" in report:
        p = report["pruning"]
        lines += [f"- Median pruner vs none, {p['trials']} trials, {p['pairs']} alternated pairs: epochs trained x{p['epochs_ratio']:.2f}, "
                  f"wall time x{p['seconds_ratio']:.2f} (median), best val loss {p['best_val_loss']['median']:.4f} vs {p['best_val_loss']['none']:.4f}."]
    if "samplers" in report:
        s = report["samplers"]
        lines += [f"- TPE trials to match the best of 100 random trials: median {s['tpe_trials_to_match_median']} over {s['seeds']} seeds "
                  f"({[r['tpe_trials_to_match'] for r in s['runs']]})."]
    if "workers" in report:
        w = report["workers"]
        lines += [f"- Two workers vs one, {w['trials']} trials per study, {w['pairs']} alternated pairs: trials/minute x{w['ratio_median']:.2f} "
                  f"(median; p95 x{w['ratio_p95']:.2f}); {w['trials_per_minute'][1]:.0f} vs {w['trials_per_minute'][2]:.0f} trials/minute."]
    (args.out / "tuning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
