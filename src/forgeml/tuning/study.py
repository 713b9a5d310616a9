"""Optuna studies that resume, scale to N workers, log every trial to MLflow, and pick a feasible best.

One study per (experiment, tuned candidate, search space): re-running with the same space resumes
it, so an interrupted tuning run continues where it stopped, and any number of processes (on any
machines sharing the storage) can join it. Trials stop once ``n_trials`` of them have completed or
been pruned, counted across every worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from forgeml import progress
from forgeml.errors import ConfigError, TrainingDiverged
from forgeml.training import Candidate, TrainingData, train_candidate
from forgeml.training.distributed import threads_per_process
from forgeml.tuning.space import SearchSpace, apply_overrides

DIRECTIONS = {"val_loss": "minimize", "val_accuracy": "maximize", "latency_ms": "minimize", "size_bytes": "minimize"}
QUALITY = ("val_loss", "val_accuracy")
COST = ("latency_ms", "size_bytes")
SAMPLERS = ("tpe", "random", "cmaes")
EXECUTION_OPTIONS = ("progress", "device")  # how a trial runs, not what it finds: not part of a study's identity
PRUNERS = ("median", "hyperband", "none")
HEARTBEAT_INTERVAL_S = 10
logger = logging.getLogger(__name__)


@dataclass
class TuneSettings:
    candidate: str
    n_trials: int
    space: dict[str, Any]
    timeout_s: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    pruner_startup_trials: int = 5  # median pruner: trials that always run to the end, then ...
    pruner_warmup_epochs: int = 5   # ... epochs every trial runs before it can be pruned
    seed: int = 0
    workers: int = 1
    storage: str = "sqlite:///data/optuna.db"
    objectives: list[str] = field(default_factory=lambda: ["val_loss"])
    constraints: dict[str, float] = field(default_factory=dict)
    heartbeat_grace_s: float = 60  # a trial whose worker sent no heartbeat for this long is failed and run again
    progress: bool = True

    def __post_init__(self):
        checks = [
            (self.sampler in SAMPLERS, f"tune.sampler must be one of {', '.join(SAMPLERS)}, not {self.sampler!r}"),
            (self.pruner in PRUNERS, f"tune.pruner must be one of {', '.join(PRUNERS)}, not {self.pruner!r}"),
            (self.n_trials >= 1, f"tune.n_trials must be at least 1, not {self.n_trials}"),
            (self.workers >= 1, f"tune.workers must be at least 1, not {self.workers}"),
            (self.heartbeat_grace_s > HEARTBEAT_INTERVAL_S,
             f"tune.heartbeat_grace_s must exceed the {HEARTBEAT_INTERVAL_S} s between heartbeats, not {self.heartbeat_grace_s}"),
            (bool(self.objectives) and self.objectives[0] in QUALITY,
             f"tune.objectives must start with one of {', '.join(QUALITY)}, not {self.objectives}"),
            (all(o in COST for o in self.objectives[1:]),
             f"tune.objectives after the first may only be {', '.join(COST)}, not {self.objectives[1:]}"),
            (set(self.constraints) <= set(self.objectives[1:]),
             f"tune.constraints may only bound the cost objectives {self.objectives[1:]}, not {sorted(self.constraints)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message + ".")

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def study_name(experiment: str, settings: TuneSettings, base_spec: dict[str, Any], data_key: str = "") -> str:
    """Same experiment, candidate, space, objectives and data -> same study (resumed); change any -> a new one."""
    training = {k: v for k, v in base_spec.get("training", {}).items() if k not in EXECUTION_OPTIONS}
    key = json.dumps([{**base_spec, "training": training}, settings.space, settings.objectives, data_key],
                     sort_keys=True, default=str)
    return f"{experiment}-{settings.candidate}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _sampler(settings: TuneSettings):
    import optuna

    seed = settings.seed + os.getpid() if settings.workers > 1 else settings.seed  # workers must not draw alike
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(settings: TuneSettings, max_epochs: int):
    import optuna

    if settings.multi_objective or settings.pruner == "none":  # Optuna cannot prune multi-objective studies
        return optuna.pruners.NopPruner()
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=3, max_resource=max_epochs)
    return optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials,
                                       n_warmup_steps=settings.pruner_warmup_epochs)


# PostgreSQL's codes for a schema object another connection created first: a table (42P07), or a type such as
# Optuna's enums (42710)
ALREADY_CREATED = frozenset({"42P07", "42710"})
SCHEMA_RACE_TRIES = 5


def _storage(url: str, grace_s: float):
    """RDB storage with heartbeats: a trial whose process died is marked failed when the study resumes.
    A live worker whose store stalls (a busy PostgreSQL, a network blip) misses heartbeats; the grace
    (a minute by default) keeps its trial from being failed and run twice."""
    import optuna
    import sqlalchemy.exc

    from forgeml.tuning.trial_runs import end_stale_trial_run

    def connect():
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=grace_s, heartbeat_stale_trial_callback=end_stale_trial_run,
            engine_kwargs={"pool_pre_ping": True},
        )

    for attempt in range(1, SCHEMA_RACE_TRIES + 1):
        try:
            storage = connect()
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            # Two machines created the schema of a new database at once: the loser sees a unique violation or an
            # object that already exists, and joins once the winner is done. Any other error stands.
            lost_race = (isinstance(error, sqlalchemy.exc.IntegrityError)
                         or getattr(error.orig, "pgcode", None) in ALREADY_CREATED)
            if not lost_race or attempt == SCHEMA_RACE_TRIES:
                raise
            time.sleep(attempt)
    if storage.engine.name == "sqlite":
        _write_ahead(storage.engine)
    return storage


def _write_ahead(engine) -> None:
    """SQLite in write-ahead-log mode: one machine's workers read the study while another writes, and a
    commit does not wait for the disk (it syncs at checkpoints), where by default each of a trial's ~20
    writes locks the file against the other workers. (A SQLite study is for one machine: WAL needs
    shared memory, so not a network filesystem; several machines share a PostgreSQL study.)"""
    from sqlalchemy import event

    def on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file
        cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections were opened before the listener


def open_study(name: str, settings: TuneSettings, max_epochs: int, load_if_exists: bool = True):
    import optuna

    return optuna.create_study(
        study_name=name, storage=_storage(settings.storage, settings.heartbeat_grace_s), sampler=_sampler(settings),
        pruner=_pruner(settings, max_epochs), directions=[DIRECTIONS[o] for o in settings.objectives],
        load_if_exists=load_if_exists,
    )


def create_or_join_study(name: str, settings: TuneSettings, max_epochs: int):
    """The study, and whether this process created it: of several machines starting one study, the
    storage lets exactly one create it (its name is unique), and that one creates the study's MLflow run."""
    import optuna

    try:
        return open_study(name, settings, max_epochs, load_if_exists=False), True
    except optuna.exceptions.DuplicatedStudyError:
        return open_study(name, settings, max_epochs), False


def fail_dead_trials(study, grace_s: float) -> None:
    """Fail the trials of workers that died. Optuna fails a trial whose heartbeat went stale; a worker killed between
    creating a trial and its first heartbeat leaves one with no heartbeat at all, RUNNING for ever, and the study
    would wait for it until its timeout. Such a trial never reached its objective (it has no MLflow run), so once
    it is older than the grace period it is failed too."""
    import optuna
    from optuna.trial import TrialState

    from forgeml.tuning.trial_runs import TRIAL_RUN_ATTR

    optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started_s = (datetime.now() - trial.datetime_start).total_seconds()  # Optuna stamps local time
        if TRIAL_RUN_ATTR not in trial.user_attrs and started_s > grace_s:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def counted_trials(study) -> list:
    """The trials that count towards n_trials: completed or pruned."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


class _Surplus(Exception):
    """Raised by a trial that started after n_trials were already taken by other workers."""


@dataclass
class TrialData:
    """What a worker needs to run trials: picklable, so spawned workers get it too."""

    training: TrainingData
    base_spec: dict[str, Any]
    seed: int
    experiment: str
    tracking_uri: str
    study_run_id: str


def _objective(trial, settings: TuneSettings, space: SearchSpace, data: TrialData):
    import optuna
    from optuna.trial import TrialState

    from forgeml.evaluate import measure_latency, serialized_size
    from forgeml.tuning.trial_runs import TrialRun

    earlier = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    if sum(t.number < trial.number for t in earlier) >= settings.n_trials:
        trial.study.stop()
        raise _Surplus()
    overrides = space.suggest(trial)
    trial.set_user_attr("overrides", overrides)
    spec = apply_overrides(data.base_spec, overrides)
    spec["training"] = {**spec.get("training", {}), "progress": False}
    quality = settings.objectives[0]
    run = TrialRun.start(data.tracking_uri, data.study_run_id, trial, overrides)

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        run.log_epoch(epoch, metrics)
        if not settings.multi_objective:
            trial.report(metrics[quality], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    started = time.perf_counter()
    try:
        candidate = Candidate.declared(f"trial {trial.number}", spec, data.training.modality, data.seed)
        classifier, info = train_candidate(candidate, data.training, on_epoch_end)
    except optuna.TrialPruned:
        run.finish("PRUNED", {}, time.perf_counter() - started)
        raise
    except TrainingDiverged as error:  # a configuration that diverges is a bad one: pruned, the study goes on
        trial.set_user_attr("diverged", str(error))
        run.finish("PRUNED", {}, time.perf_counter() - started)
        raise optuna.TrialPruned(str(error)) from error
    except Exception:
        run.finish("FAIL", {}, time.perf_counter() - started)
        raise
    history = info["history"]
    values = {"val_loss": min(history["val_loss"]), "val_accuracy": history["val_accuracy"][info["best_epoch"]]}
    if "latency_ms" in settings.objectives:
        one_row = data.training.modality.inputs(data.training.val.head(1))
        values["latency_ms"] = measure_latency(classifier.predict_proba, one_row, repeats=30, threads=1)["p50_ms"]
    if "size_bytes" in settings.objectives:
        values["size_bytes"] = float(serialized_size(classifier))
    trial.set_user_attr("metrics", values)
    run.finish("COMPLETE", values, time.perf_counter() - started)
    result = [values[o] for o in settings.objectives]
    return result if settings.multi_objective else result[0]


def optimize(settings: TuneSettings, name: str, data: TrialData, threads: int | None = None,
             shows_progress: bool = False) -> None:
    """Run trials in this process until the study holds ``n_trials`` completed or pruned trials (or the timeout)."""
    import optuna
    import torch
    from optuna.trial import TrialState

    import mlflow

    from forgeml.collector import freeze_long_lived

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a surplus trial's failure is expected
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable in practice
    mlflow.set_tracking_uri(data.tracking_uri)  # also for the stale-trial callback
    if threads:
        torch.set_num_threads(threads)
    space = SearchSpace.from_config(settings.space, data.base_spec["model"]["family"])
    max_epochs = int(data.base_spec.get("training", {}).get("epochs", 100))
    study = open_study(name, settings, max_epochs)
    freeze_long_lived()  # a spawned worker's imports and data: its first pipeline run is its trials
    bar = progress.bar(total=settings.n_trials, initial=len(counted_trials(study)), desc=f"tuning {settings.candidate}",
                       unit="trial", shown=shows_progress)

    def show_progress(study, trial) -> None:
        bar.n = min(len(counted_trials(study)), settings.n_trials)
        best = ""
        if not settings.multi_objective and any(t.state.name == "COMPLETE" for t in counted_trials(study)):
            best = f"{study.best_value:.4f}"
            bar.set_postfix({f"best {settings.objectives[0]}": best})
        bar.refresh()
        if shows_progress:
            progress.done(logger, "tuning %s: trial %d %s (%d of %d counted)%s", settings.candidate, trial.number,
                          trial.state.name.lower(), bar.n, settings.n_trials,
                          f"; best {settings.objectives[0]} {best}" if best else "")

    deadline = time.monotonic() + (settings.timeout_s or math.inf)
    while time.monotonic() < deadline:
        fail_dead_trials(study, settings.heartbeat_grace_s)  # trials of a killed worker: failed once their heartbeat is stale, or never came
        counted = len(counted_trials(study))
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if counted >= settings.n_trials:
            break
        if counted + running >= settings.n_trials:  # other workers hold the last trials: wait for them
            time.sleep(2)
            continue
        remaining = deadline - time.monotonic()
        study.optimize(
            lambda trial: _objective(trial, settings, space, data),
            timeout=None if math.isinf(remaining) else remaining,
            callbacks=[optuna.study.MaxTrialsCallback(settings.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)),
                       show_progress],
            catch=(_Surplus,),
        )
    bar.close()


def run_study(settings: TuneSettings, name: str, data: TrialData, threads: int | None = None):
    """Create or resume the study, run ``settings.workers`` processes on it, and return it when done.
    Each process trains on ``threads`` torch threads (by default, this process's share among the workers: torch's
    own count, the cores or ``OMP_NUM_THREADS``, so that processes sharing the cores do not oversubscribe them)."""
    threads = threads or threads_per_process(settings.workers)
    open_study(name, settings, 1)  # created once here, before any worker: two creating it at once can crash SQLite
    context = multiprocessing.get_context("spawn")  # fork with torch's threads can deadlock
    helpers = [context.Process(target=optimize, args=(settings, name, data, threads)) for _ in range(settings.workers - 1)]
    for helper in helpers:
        helper.start()
    optimize(settings, name, data, threads, shows_progress=settings.progress)
    for helper in helpers:
        helper.join()
    return open_study(name, settings, 1)


def choose_trial(study, settings: TuneSettings) -> tuple[Any, bool]:
    """The best trial, and whether it meets the constraints.

    Single objective: Optuna's best. Multi-objective: among the Pareto front, the trials within every
    constraint, best on the first (quality) objective; with none within, the best overall, flagged.
    """
    if not settings.multi_objective:
        return study.best_trial, True
    quality_sign = 1 if DIRECTIONS[settings.objectives[0]] == "minimize" else -1
    front = sorted(study.best_trials, key=lambda t: quality_sign * t.values[0])
    feasible = [t for t in front if all(
        t.values[settings.objectives.index(name)] <= limit for name, limit in settings.constraints.items()
    )]
    return (feasible[0], True) if feasible else (front[0], False)


def summary(study, settings: TuneSettings) -> dict[str, Any]:
    """What the tuned candidate needs (the best trial's overrides) and what a reviewer wants to see."""
    from optuna.trial import TrialState

    chosen, feasible = choose_trial(study, settings)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    result = {
        "study": study.study_name,
        "candidate": settings.candidate,
        "objectives": settings.objectives,
        "constraints": settings.constraints,
        "trial": chosen.number,
        "values": dict(zip(settings.objectives, chosen.values)),
        "metrics": chosen.user_attrs.get("metrics", {}),
        "overrides": chosen.user_attrs["overrides"],
        "feasible": feasible,
        "trials": {state.name.lower(): states.count(state) for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)},
    }
    if settings.multi_objective:
        result["pareto_front"] = [
            {"trial": t.number, "values": dict(zip(settings.objectives, t.values))} for t in study.best_trials
        ]
    return result


def plots(study, settings: TuneSettings) -> dict[str, str]:
    """Optuna's plots as standalone HTML pages (plotly inlined: they open offline): history,
    importances, parallel coordinates, and the Pareto front of a multi-objective study."""
    import optuna.visualization as vis

    target = None
    if settings.multi_objective:
        def target(trial):
            return trial.values[0]
    name = settings.objectives[0]
    figures = {
        "optimization_history.html": vis.plot_optimization_history(study, target=target, target_name=name),
        "parallel_coordinate.html": vis.plot_parallel_coordinate(study, target=target, target_name=name),
    }
    if len([t for t in study.trials if t.state.name == "COMPLETE"]) >= 2:
        figures["param_importances.html"] = vis.plot_param_importances(study, target=target, target_name=name)
    if settings.multi_objective:
        figures["pareto_front.html"] = vis.plot_pareto_front(study, target_names=settings.objectives)
    return {file: figure.to_html(include_plotlyjs=True, full_html=True) for file, figure in figures.items()}


def tune_candidate(
    settings: TuneSettings, experiment: str, base_spec: dict[str, Any], data: TrainingData, seed: int, tracking_uri: str,
    parent_run_id: str | None, tags: dict[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run (or resume) the study for ``base_spec`` and return its summary and plots, also logged to the study's run."""
    import mlflow

    from forgeml.tuning.trial_runs import ensure_study_run

    # fail before anything starts: the candidate, then the space around it
    Candidate.declared(settings.candidate, base_spec, data.modality, seed)
    SearchSpace.from_config(settings.space, base_spec["model"]["family"])
    data_key = str(int(pd.util.hash_pandas_object(pd.concat([data.train, data.val]), index=False).sum()))
    name = study_name(experiment, settings, base_spec, data_key)
    study, created = create_or_join_study(name, settings, 1)
    run_id = ensure_study_run(study, created, tracking_uri, experiment, parent_run_id, tags or {})
    study = run_study(settings, name, TrialData(data, base_spec, seed, experiment, tracking_uri, run_id))
    result, pages = summary(study, settings), plots(study, settings)
    client = mlflow.MlflowClient(tracking_uri)
    client.log_dict(run_id, result, "best_params.json")
    for file, html in pages.items():
        client.log_text(run_id, html, f"plots/{file}")
    client.log_metric(run_id, "trials_complete", result["trials"]["complete"])
    client.log_metric(run_id, "trials_pruned", result["trials"]["pruned"])
    client.set_terminated(run_id, "FINISHED")
    return result, pages
