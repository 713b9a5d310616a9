"""Generate dvc.yaml from the Kedro pipelines: per experiment, one stage per pipeline, so the two cannot drift apart.

Every folder under conf/experiments is an experiment; its stages are named ``<experiment>-<stage>`` and run
``kedro run --experiment <experiment> --pipelines <stage>`` in whatever environment the caller chose
(``KEDRO_ENV``: where things run, not what runs). A stage's deps are the project's code, the catalog, the
parameter keys its nodes read (in conf/base and in the experiment's folder) and the file-backed datasets it
reads; its outs are the file-backed datasets it writes. Reports under 08_reporting are left out of the DVC
cache (small, meant to be read).

``reproduce`` brings stages up to date as ``dvc repro`` does, but runs their commands in the calling process.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import yaml

from forgeml.experiments import EXPERIMENTS_FOLDER, experiment_names, experiment_selected

REPORTING = "data/08_reporting"
CODE_DEPS = ("src/forgeml", "conf/base/catalog.yml")


def _parameter_files(project: Path, experiment: str) -> dict[str, dict]:
    """The parameter files of conf/base and of the experiment's folder, each with what it declares."""
    files = {}
    for layer in (project / "conf" / "base", project / "conf" / EXPERIMENTS_FOLDER / experiment):
        for path in sorted(layer.glob("parameters*.yml")):
            files[path.relative_to(project).as_posix()] = yaml.safe_load(path.read_text()) or {}
    return files


def _declares(params: dict, key: str) -> bool:
    """Whether ``params`` holds the dotted ``key`` (DVC refuses a stage whose file lacks a key it tracks)."""
    for part in key.split("."):
        if not isinstance(params, dict) or part not in params:
            return False
        params = params[part]
    return True


def _filepath(catalog, name: str, project: Path) -> str | None:
    if name not in catalog:
        return None
    dataset = catalog.get(name)
    filepath = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)  # a file, or a folder of partitions
    if filepath is None:
        return None
    path = Path(str(filepath))
    return (path.relative_to(project) if path.is_absolute() else path).as_posix()


def _catalog(project: Path, experiment: str):
    """The experiment's catalog as the project's settings build it, without a session: a session's hooks
    would open the MLflow store (seconds per experiment) for a file that needs only paths."""
    import os

    from kedro.framework.project import settings

    with experiment_selected(experiment):
        loader = settings.CONFIG_LOADER_CLASS(
            conf_source=str(project / settings.CONF_SOURCE), env=os.environ.get("KEDRO_ENV"),
            **settings.CONFIG_LOADER_ARGS,
        )
        return settings.DATA_CATALOG_CLASS.from_config(loader["catalog"])


def _experiment_stages(project: Path, experiment: str) -> dict:
    from kedro.framework.project import pipelines

    from forgeml.pipeline_registry import STAGES

    catalog = _catalog(project, experiment)
    files = _parameter_files(project, experiment)
    own_catalog = project / "conf" / EXPERIMENTS_FOLDER / experiment / "catalog.yml"
    stages = {}
    for stage_name in STAGES:
        pipeline = pipelines[stage_name]
        params: dict[str, set[str]] = {}
        for dataset in pipeline.inputs():
            if dataset.startswith("params:"):
                key = dataset.removeprefix("params:")
                for file, declared in files.items():
                    if _declares(declared, key):
                        params.setdefault(file, set()).add(key)
        inputs = sorted(filter(None, (_filepath(catalog, d, project) for d in pipeline.inputs())))
        deps = [*CODE_DEPS, *([own_catalog.relative_to(project).as_posix()] if own_catalog.exists() else []), *inputs]
        outs, metrics = [], []
        for dataset in sorted(pipeline.all_outputs()):
            path = _filepath(catalog, dataset, project)
            if path is None:
                continue
            if path.endswith("/metrics.json"):
                metrics.append({path: {"cache": False}})
            elif path.startswith(REPORTING):
                outs.append({path: {"cache": False}})
            else:
                outs.append(path)
        stage = {
            "cmd": f"kedro run --experiment {experiment} --pipelines {stage_name}",
            "deps": deps,
            "params": [{file: sorted(keys)} for file, keys in sorted(params.items())],
            "outs": outs,
        }
        if metrics:
            stage["metrics"] = metrics
        stages[f"{experiment}-{stage_name}"] = stage
    return stages


def build_stages(project: Path) -> dict:
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    stages = {}
    for experiment in experiment_names(project / "conf"):
        stages.update(_experiment_stages(project, experiment))
    return {"stages": stages}


def render_dvc_yaml(project: Path) -> str:
    header = (
        "# Generated by `forgeml dvc` from the Kedro pipelines; edit the pipelines, not this file.\n"
        "# `make run EXPERIMENT=NAME` reproduces the stages NAME-data ... NAME-release.\n"
    )
    return header + yaml.safe_dump(build_stages(project), sort_keys=False, width=120)


def write_dvc_yaml(project: Path) -> bool:
    """Write ``project``'s dvc.yaml from its pipelines, catalog and experiments; False if it already matched
    (then its timestamp stays too)."""
    generated, path = render_dvc_yaml(project), project / "dvc.yaml"
    if path.exists() and path.read_text() == generated:
        return False
    path.write_text(generated)
    return True


PREVIOUS = ".forgeml-previous"  # the suffix of an output set aside while its stage runs


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def outs_set_aside(outs: list[Path]) -> Iterator[None]:
    """Run the block with ``outs`` moved aside (renamed beside themselves, so a stage never reads its own old
    outputs as new ones): dropped once it succeeds, put back in place of anything it wrote if it fails. An
    output still aside from a run that was killed is put back first, as a failure would have."""
    aside = [(out, out.with_name(out.name + PREVIOUS)) for out in outs]
    for out, previous in aside:
        if previous.exists():
            _remove(out)
            previous.rename(out)
    moved = [(out, previous) for out, previous in aside if out.exists()]
    for out, previous in moved:
        out.rename(previous)
    try:
        yield
    except BaseException:
        for out, previous in moved:
            _remove(out)
            previous.rename(out)
        raise
    for _, previous in moved:
        _remove(previous)


def reproduce(target: str, run_command: Callable[[str], None]) -> list[str]:
    """Bring ``target`` and the stages it depends on up to date, as ``dvc repro`` does in the working
    directory's repo, running each stale stage's command through ``run_command`` in this process instead of a
    new one per stage.

    DVC plans the order and says which stages changed. Each stale stage has its outs moved aside
    (``outs_set_aside``), its command run, then its deps and outs hashed, cached and written to dvc.lock
    (what ``dvc commit`` does after a command run by hand). A command that raises stops here: the stages
    before it stay committed, it and those after it stay stale, and its previous outs are back in place,
    so a failed run (bad data, say) leaves the last good data, models and reports. Unlike ``dvc repro``, a
    stale stage always runs: DVC's run cache is written, never restored from, so every run leaves its
    MLflow run. Returns the names of the stages that ran.
    """
    from dvc.repo import Repo
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    repo, ran = Repo(), []
    with repo.lock:
        graph = get_active_graph(repo.index.graph)
        for stage in plan_repro(graph, collect_stages(repo, [target])):
            if not stage.changed(upstream=list(graph.predecessors(stage))):
                click.echo(f"Stage '{stage.addressing}' didn't change, skipping")
                continue
            click.echo(f"Running stage '{stage.addressing}':\n> {stage.cmd}")
            try:
                with outs_set_aside([Path(out.fs_path) for out in stage.outs]):
                    run_command(stage.cmd)
            except BaseException:
                click.secho(f"Stage '{stage.addressing}' failed: it and the stages after it stay stale; its previous "
                            "outputs are back in place.", fg="red", err=True)
                raise
            stage.save()
            stage.commit()
            stage.dump(update_pipeline=False)
            ran.append(stage.addressing)
    return ran
