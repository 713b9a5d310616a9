"""Tuning, measured: median pruner against none, TPE against random search, two workers against one, and
the MLflow logging cost of a trial.

Pruning, samplers and workers tune a candidate over its shipped search space, with epochs fixed by --epochs so a
study takes minutes: ``--model mlp`` the breast-cancer MLP (conf/experiments/breast_cancer/parameters_tune.yml),
``--model resnet`` the digits ResNet (conf/experiments/digits/parameters_tune.yml). Each comparison alternates its
two variants, seed by seed (pair by pair), and reports medians. Writes benchmarks/reports/tuning_<model>.{json,md}.

    python benchmarks/tuning.py [pruning] [samplers] [workers] [logging] [--model mlp|resnet] [--pairs 15] [--seeds 5]

- pruning: the same n_trials with MedianPruner and with none: epochs trained, best validation
  loss and wall time per study.
- samplers: per seed, the best validation loss of 100 random-search trials, then the number of
  TPE trials needed to match it (the median over seeds; 100 = not matched).
- workers: the same n_trials (the same drawn points, enqueued) on one worker and on two worker processes
  sharing a SQLite study, one torch thread each: trials per minute in the steady state (each worker's trials
  over its own span, summed) and over the whole study (first start to last end, with the second worker's
  start-up in it); and where a shortfall from 2x goes: the same trials' summed seconds on two workers against
  one (slower trials), and each worker's share of its span spent inside trials (time between them). Then the
  machine's ceiling: the same trials trained bare in two processes at once against one.
- logging: a trial's MLflow run on a SQLite store (forgeml.tuning.trial_runs.TrialRun), its epoch metrics
  batched (as shipped) against written every epoch: milliseconds per logged epoch, the slope between a
  trial of --logged-epochs epochs and one of none (start and end of the run cost the same in both).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch
import yaml

from forgeml.data import load_bundled
from forgeml.data.images import load_bundled_images
from forgeml.evaluate.footprint import cpu
from forgeml.modality import modality_of
from forgeml.training import Candidate, TrainingData, train_candidate
from forgeml.tuning import SearchSpace, TuneSettings, apply_overrides, run_study
from forgeml.tuning.study import TrialData, counted_trials, create_or_join_study, study_name
from forgeml.tuning.trial_runs import TrialRun, ensure_study_run

ROOT = Path(__file__).parents[1]


EXPERIMENTS = {"mlp": "breast_cancer", "resnet": "digits"}  # the candidate, and the experiment whose space it tunes


def setup(model: str, epochs: int):
    """The candidate's spec with ``epochs`` fixed, its search space less epochs, the train and validation
    splits with their modality and tensors: what a tune stage's TrialData holds."""
    experiment = EXPERIMENTS[model]

    def read(path: str) -> dict:
        return yaml.safe_load((ROOT / "conf" / path).read_text())

    train_params = {**read("base/parameters_train.yml")["train"], **read(f"experiments/{experiment}/parameters_train.yml")["train"]}
    space = {k: v for k, v in read(f"experiments/{experiment}/parameters_tune.yml")["tune"]["spaces"][model].items()
             if k != "training.epochs"}
    base = train_params["candidates"][model]
    base = {**base, "training": {**train_params["defaults"], **base["training"], "epochs": epochs, "progress": False, "device": "cpu"}}
    modality = modality_of({"name": experiment, "target": "target", **read(f"experiments/{experiment}/parameters.yml")["experiment"]})
    table = modality.ingest(load_bundled_images(experiment)).frame() if modality.kind == "image" else load_bundled(experiment)
    train, val, _ = modality.split(table, 0.2, 0.15, seed=42)
    return base, space, TrainingData(modality, train, val, modality.tensors({"train": train, "val": val}))


def objective_for(base, space, data, epochs_seen: list[int], pruning: bool):
    search = SearchSpace.from_config(space, base["model"]["family"])

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
            _, info = train_candidate(Candidate.declared("trial", spec, data.modality, 0), data, report)
        finally:
            epochs_seen.append(seen[0])
        return min(info["history"]["val_loss"])

    return objective


def pruning(args) -> dict:
    base, space, data = setup(args.model, args.epochs)
    rows = []
    for pair in range(args.pairs):
        for pruned in ((True, False) if pair % 2 == 0 else (False, True)):
            epochs: list[int] = []
            pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5) if pruned else optuna.pruners.NopPruner()
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=pair), pruner=pruner)
            start = time.perf_counter()
            study.optimize(objective_for(base, space, data, epochs, pruned), n_trials=args.trials)
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
    base, space, data = setup(args.model, args.epochs)
    rows = []
    for seed in range(args.seeds):
        random_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        random_study.optimize(objective_for(base, space, data, [], False), n_trials=100)
        target = random_study.best_value
        tpe = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        objective = objective_for(base, space, data, [], False)
        needed = 100
        for index in range(100):
            tpe.optimize(objective, n_trials=1)
            if tpe.best_value <= target:
                needed = index + 1
                break
        rows.append({"seed": seed, "random_best_of_100": target, "tpe_trials_to_match": needed})
        print(rows[-1], flush=True)
    return {"seeds": args.seeds, "tpe_trials_to_match_median": statistics.median(r["tpe_trials_to_match"] for r in rows), "runs": rows}


def drawn_trials(space: dict, family: str, count: int, seed: int) -> list[dict]:
    """``count`` points of the space drawn at random: both variants of a pair run these same trials."""
    search, study = SearchSpace.from_config(space, family), optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(count):
        trial = study.ask()
        search.suggest(trial)
        study.tell(trial, 0.0)
    return [trial.params for trial in study.trials]


def trial_spans(study, tracking: str, study_run_id: str) -> dict[str, list]:
    """Each worker's trials (from the ``forgeml.worker`` tag of the trial runs): worker -> [(start, end)]."""
    import mlflow

    client = mlflow.MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("bench").experiment_id],
                              f"tags.`mlflow.parentRunId` = '{study_run_id}'", max_results=1000)
    worker_of = {int(run.data.tags["forgeml.trial"]): run.data.tags["forgeml.worker"]
                 for run in runs if "forgeml.trial" in run.data.tags}
    spans: dict[str, list] = {}
    for trial in counted_trials(study):
        spans.setdefault(worker_of[trial.number], []).append((trial.datetime_start, trial.datetime_complete))
    return spans


@functools.cache
def _bare_setup(model: str, epochs: int) -> tuple:
    """``setup``, once per process (a pool's process trains many batches of trials), on one torch thread."""
    torch.set_num_threads(1)
    return setup(model, epochs)


def bare_trials(model: str, epochs: int, points: list[dict]) -> float:
    """Seconds to train ``points`` one after another in this process, one torch thread, with no study, storage or
    MLflow run: the training alone, as a worker process runs it."""
    base, space, data = _bare_setup(model, epochs)
    search = SearchSpace.from_config(space, base["model"]["family"])
    start = time.perf_counter()
    for point in points:
        spec = apply_overrides(base, search.suggest(optuna.trial.FixedTrial(point)))
        train_candidate(Candidate.declared("trial", spec, data.modality, 0), data)
    return time.perf_counter() - start


def bare_ceiling(args, base: dict, space: dict) -> dict:
    """What this machine allows two workers: the same drawn trials trained bare in one process alone, and in two
    processes at once, each training all of them (two single-process pools, started and warmed up with a trial
    beforehand). Trials per minute as in ``workers``' steady state: each process's trials over its own seconds,
    summed. Two cores that slow each other down (shared caches, memory bandwidth, a busy host) cap the workers'
    ratio below 2x whatever ForgeML does; ``trial_seconds_ratio`` is that slowdown."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    ratios, slowdowns = [], []
    with ProcessPoolExecutor(1, mp_context=spawn) as first, ProcessPoolExecutor(1, mp_context=spawn) as second:
        warm_up = drawn_trials(space, base["model"]["family"], 1, seed=args.pairs)  # a process's first trial is slower
        for pool in (first, second):
            pool.submit(bare_trials, args.model, args.epochs, warm_up).result()
        for pair in range(args.pairs):
            points = drawn_trials(space, base["model"]["family"], args.worker_trials, seed=pair)
            for count in ((1, 2) if pair % 2 == 0 else (2, 1)):
                if count == 1:
                    alone = first.submit(bare_trials, args.model, args.epochs, points).result()
                else:
                    running = [pool.submit(bare_trials, args.model, args.epochs, points) for pool in (first, second)]
                    together = [future.result() for future in running]
            ratios.append(sum(alone / seconds for seconds in together))
            slowdowns.append(statistics.mean(together) / alone)
            print({"pair": pair, "bare_ratio": ratios[-1], "bare_trial_seconds_ratio": slowdowns[-1]}, flush=True)
    return {"pairs": args.pairs, "ratio_median": statistics.median(ratios), "ratio_p95": sorted(ratios)[int(0.95 * (len(ratios) - 1))],
            "trial_seconds_ratio": statistics.median(slowdowns)}


def workers(args) -> dict:
    """Trials per minute on one worker and on two, one torch thread each, over the same drawn trials. Whole study:
    the first trial's start to the last one's end, so it includes the second worker's start-up (a spawned
    process imports torch, optuna and mlflow) and the wait for the last trial. Steady state: each worker's
    trials over its own first start to last end, summed over the workers."""
    base, space, data = setup(args.model, args.epochs)
    rates: dict[str, dict[int, list[float]]] = {"whole": {1: [], 2: []}, "steady": {1: [], 2: []}}
    # where a shortfall from 2x goes: trials themselves slower (in_trials), or time between them (busy_share)
    in_trials: dict[int, list[float]] = {1: [], 2: []}
    busy_share: dict[int, list[float]] = {1: [], 2: []}
    startup: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        tracking = f"sqlite:///{folder}/mlflow.db"
        for pair in range(args.pairs):
            points = drawn_trials(space, base["model"]["family"], args.worker_trials, seed=pair)
            for count in ((1, 2) if pair % 2 == 0 else (2, 1)):
                settings = TuneSettings(candidate=args.model, n_trials=args.worker_trials, space=space, pruner="none",
                                        storage=f"sqlite:///{folder}/pair{pair}_w{count}.db", workers=count, progress=False,
                                        seed=pair)
                name = study_name("bench", settings, base)
                study, created = create_or_join_study(name, settings, args.epochs)
                for point in points:
                    study.enqueue_trial(point)
                run_id = ensure_study_run(study, created, tracking, "bench", None, {})
                study = run_study(settings, name, TrialData(data, base, 0, "bench", tracking, run_id),
                                  threads=1)
                spans = trial_spans(study, tracking, run_id)
                starts = [start for worker in spans.values() for start, _ in worker]
                ends = [end for worker in spans.values() for _, end in worker]
                rates["whole"][count].append(len(starts) / (max(ends) - min(starts)).total_seconds() * 60)
                own_spans = [(max(e for _, e in worker) - min(s for s, _ in worker)).total_seconds() for worker in spans.values()]
                rates["steady"][count].append(sum(len(worker) / span * 60 for worker, span in zip(spans.values(), own_spans)))
                in_trials[count].append(sum((end - start).total_seconds() for worker in spans.values() for start, end in worker))
                busy_share[count].append(in_trials[count][-1] / sum(own_spans))
                if count == 2:
                    firsts = sorted(min(s for s, _ in worker) for worker in spans.values())
                    startup.append((firsts[-1] - firsts[0]).total_seconds())
                print({"pair": pair, "workers": count, "trials_per_minute": rates["whole"][count][-1],
                       "steady_trials_per_minute": rates["steady"][count][-1], "trials_by_worker": [len(w) for w in spans.values()],
                       "trial_seconds": statistics.median(t.duration.total_seconds() for t in counted_trials(study))}, flush=True)
    result = {"pairs": args.pairs, "trials": args.worker_trials, "epochs": args.epochs,
              "second_worker_starts_after_s": statistics.median(startup),
              "trial_seconds_ratio": statistics.median(two / one for one, two in zip(in_trials[1], in_trials[2])),
              "busy_share": {count: statistics.median(shares) for count, shares in busy_share.items()}}
    for window, by_count in rates.items():
        ratios = [two / one for one, two in zip(by_count[1], by_count[2])]
        result[window] = {"trials_per_minute": {k: statistics.median(v) for k, v in by_count.items()},
                          "ratio_median": statistics.median(ratios), "ratio_p95": sorted(ratios)[int(0.95 * (len(ratios) - 1))]}
    result["bare"] = bare_ceiling(args, base, space)
    return result


def logging(args) -> dict:
    import mlflow
    from mlflow.entities import Metric

    epoch_metrics = {"train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9, "lr": 1e-3}
    seconds: dict[str, dict[int, list[float]]] = {"batched": {0: [], args.logged_epochs: []},
                                                  "every epoch": {0: [], args.logged_epochs: []}}
    with tempfile.TemporaryDirectory() as folder:
        tracking = f"sqlite:///{folder}/mlflow.db"
        client = mlflow.MlflowClient(tracking)
        study_run = client.create_run(client.create_experiment("bench"), run_name="study").info.run_id
        study = optuna.create_study()

        def trial(variant: str, epochs: int) -> float:
            start = time.perf_counter()
            run = TrialRun.start(tracking, study_run, study.ask(), {"training": {"lr": 1e-3}})
            if variant == "every epoch":  # what TrialRun did before: one store write per epoch
                for epoch in range(epochs):
                    client.log_batch(run.run_id, metrics=[Metric(k, v, 0, epoch) for k, v in epoch_metrics.items()])
            else:
                for epoch in range(epochs):
                    run.log_epoch(epoch, epoch_metrics)
            run.finish("COMPLETE", {"val_loss": 0.4}, 1.0)
            return time.perf_counter() - start

        for pair in range(args.pairs):
            for epochs in (0, args.logged_epochs):
                for variant in (("batched", "every epoch") if pair % 2 == 0 else ("every epoch", "batched")):
                    seconds[variant][epochs].append(trial(variant, epochs))
    per_epoch = {variant: [(full - none) / args.logged_epochs * 1000 for none, full in zip(runs[0], runs[args.logged_epochs])]
                 for variant, runs in seconds.items()}
    return {"pairs": args.pairs, "logged_epochs": args.logged_epochs, "store": "sqlite",
            "ms_per_logged_epoch": {variant: statistics.median(values) for variant, values in per_epoch.items()},
            "ms_per_trial_without_epochs": {variant: statistics.median(runs[0]) * 1000 for variant, runs in seconds.items()}}


def cpu_name() -> str:
    """The CPU model and whether it has AVX-512: timings differ 2-4x between the machines these run on."""
    name, cores, flags = cpu()
    return f"{name}, {cores} cores, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["all"], choices=["pruning", "samplers", "workers", "logging", "all"])
    parser.add_argument("--model", choices=sorted(EXPERIMENTS), default="mlp", help="the candidate whose space is tuned")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--trials", type=int, default=16, help="trials per study (pruning)")
    parser.add_argument("--worker-trials", type=int, default=8, help="trials per study (workers)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="per trial; default: 30 for mlp, 3 for resnet")
    parser.add_argument("--logged-epochs", type=int, default=50, help="epochs per trial (logging)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    if args.pairs < 15:
        parser.error("--pairs must be at least 15: fewer pairs give an unstable median on these machines")
    args.epochs = args.epochs or {"mlp": 30, "resnet": 3}[args.model]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    chosen = ["pruning", "samplers", "workers", "logging"] if "all" in args.which else args.which
    report = {name: globals()[name](args) for name in chosen}
    args.out.mkdir(parents=True, exist_ok=True)
    report["model"], report["cpu"] = args.model, cpu_name()
    (args.out / f"tuning_{args.model}.json").write_text(json.dumps(report, indent=2, default=str))
    lines = [f"# Tuning benchmarks ({args.model}; {report['cpu']})", ""]
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
        lines += [f"- Two workers vs one (one thread each), the same {w['trials']} trials of {w['epochs']} epochs per study, "
                  f"{w['pairs']} alternated pairs: trials/minute x{w['steady']['ratio_median']:.2f} in the steady state "
                  f"(p95 x{w['steady']['ratio_p95']:.2f}; {w['steady']['trials_per_minute'][1]:.1f} vs "
                  f"{w['steady']['trials_per_minute'][2]:.1f}), x{w['whole']['ratio_median']:.2f} over the whole study "
                  f"(the second worker starts {w['second_worker_starts_after_s']:.1f} s after the first). The same trials take "
                  f"x{w['trial_seconds_ratio']:.2f} the seconds on two workers; each worker is inside a trial "
                  f"{w['busy_share'][1]:.0%} (one) and {w['busy_share'][2]:.0%} (two) of its span. The machine's ceiling: the "
                  f"same trials trained bare (no study, storage or MLflow) in two processes at once against one, "
                  f"x{w['bare']['ratio_median']:.2f} (p95 x{w['bare']['ratio_p95']:.2f}; trial seconds x{w['bare']['trial_seconds_ratio']:.2f})."]
    if "logging" in report:
        g = report["logging"]
        lines += [f"- MLflow logging of a trial ({g['store']} store, {g['pairs']} alternated pairs, {g['logged_epochs']} epochs): "
                  f"{g['ms_per_logged_epoch']['batched']:.2f} ms per logged epoch batched against "
                  f"{g['ms_per_logged_epoch']['every epoch']:.2f} ms written every epoch; starting and ending a trial's run "
                  f"{g['ms_per_trial_without_epochs']['batched']:.0f} ms."]
    (args.out / f"tuning_{args.model}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
