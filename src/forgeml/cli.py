"""The command line, in one module: ``forgeml`` (``main``: results, registry moves by hand, retraining,
dvc.yaml, drafting experiments) and the project commands Kedro loads from here (``cli``: ``kedro run`` with
``--experiment``).

Every command ends a user error the same way (``user_errors_exit_2``): bad data or settings (a ForgeML
error, forgeml.errors) or a catalog entry that cannot be read get a paragraph that names them and exit code
2, never a traceback; 1 is left for what only reports, such as an audit log that does not verify. Options
that several commands take are defined once below. Heavy imports (pandas, MLflow, torch) wait inside the
commands; Kedro's own ``run`` command, imported here, adds about 0.4 s to starting ``forgeml``.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from kedro.framework.cli.project import run as kedro_run

from forgeml.errors import ConfigError, DataError, ForgeMLError, RegistryError
from forgeml.experiments import DEFAULT_EXPERIMENT, EXPERIMENT_VARIABLE, checked_name

TRACKING_URI = "sqlite:///mlruns/mlflow.db"  # the embedded store (conf/base/mlflow.yml)
REPORTING = Path("data/08_reporting")  # the reporting layer of conf/base/catalog.yml


@contextmanager
def user_errors_exit_2() -> Iterator[None]:
    """Bad data or settings (a ForgeML error), or a catalog entry that cannot be read (a missing, empty or
    undecodable file), end the command with a paragraph that names it and exit code 2, not a traceback."""
    try:
        yield
    except ForgeMLError as error:
        _stop(f"ForgeML stopped: {type(error).__name__}\n{error}")
    except Exception as error:
        from kedro.io import DatasetError

        if not isinstance(error, DatasetError):
            raise
        _stop(f"ForgeML stopped: a catalog entry could not be read or written.\n{error}\n"  # most often a missing,
              "Check the file (a CSV must be UTF-8 text with a header row), and the entry's filepath in "  # empty or
              "conf/base/catalog.yml or in the experiment's own catalog.yml (conf/experiments/<name>/catalog.yml).")


def _stop(message: str) -> None:
    click.secho(f"\n{message}", fg="red", err=True)
    sys.exit(2)


class Commands(click.Group):
    """A group whose every command ends user errors through ``user_errors_exit_2``."""

    def invoke(self, context: click.Context):
        with user_errors_exit_2():
            return super().invoke(context)


def _name(context: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """An experiment or registered-model name from the command line or the environment, checked before anything
    is written: a name like ../x would put folders and locks outside the project (exit 2, as any usage error)."""
    try:
        return None if value is None else checked_name(value, parameter.human_readable_name)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


# Options several commands take: one definition each.
experiment_option = click.option(
    "--experiment", envvar=EXPERIMENT_VARIABLE, default=DEFAULT_EXPERIMENT, show_default=True, callback=_name,
    help="The experiment: a folder under conf/experiments.")
model_option = click.option("--model", required=True, callback=_name,
                            help="The registered model (an experiment's name, e.g. breast_cancer).")
tracking_uri_option = click.option("--tracking-uri", default=TRACKING_URI, show_default=True,
                                   help="The MLflow store holding the registry.")
audit_log_option = click.option("--audit-log", type=click.Path(path_type=Path), default=None,
                                help=f"The append-only audit log [default: {REPORTING}/MODEL/audit.jsonl].")
alias_option = click.option("--alias", default="champion", show_default=True, help="The alias to move or check.")


# --- the project commands Kedro loads ----------------------------------------------------------------------

@click.group(name="forgeml", cls=Commands)
def cli() -> None:
    """ForgeML project commands."""


@cli.command(name="run", params=kedro_run.params, help=kedro_run.help, short_help=kedro_run.short_help)
@click.option("--experiment", envvar=EXPERIMENT_VARIABLE, default=None, callback=_name,
              help=f"The experiment to run: a folder under conf/experiments [default: {DEFAULT_EXPERIMENT}].")
@click.pass_context
def run(context: click.Context, experiment: str | None, **options) -> None:
    import os

    if experiment:
        os.environ[EXPERIMENT_VARIABLE] = experiment  # read by the config loader the session creates
    with user_errors_exit_2():  # Kedro's own group runs this command, not ours: the handler is asked here too
        context.invoke(kedro_run.callback, **options)


def run_in_process(command: str) -> None:
    """Run a DVC stage's ``kedro run ...`` command (as dvc.yaml holds it) through ``run`` in this process, whose
    project is bootstrapped: a ForgeML error still ends it with its paragraph and exit code 2."""
    import shlex

    words = shlex.split(command)
    if words[:2] != ["kedro", "run"]:
        raise click.UsageError(f"{command!r} is not a `kedro run` command; run its stage with `dvc repro`.")
    cli.main(words[1:], prog_name="kedro", standalone_mode=False)


# --- the `forgeml` command ---------------------------------------------------------------------------------

@click.group(cls=Commands)
def main() -> None:
    """ForgeML: look at results, move registry aliases by hand, retrain on new data, keep dvc.yaml in
    step with the pipelines, draft expectation suites.

    Run the pipelines with `make run` (all stages through DVC: `forgeml repro`) or `kedro run --pipelines NAME`.
    """


@main.command()
@experiment_option
@click.option("--reporting-dir", default=REPORTING, show_default=True, type=click.Path(path_type=Path))
def report(experiment: str, reporting_dir: Path) -> None:
    """Print the candidates of the last run: accuracy, robustness, size, latency, version, promotion."""
    from forgeml.reporting import candidate_table

    folder = reporting_dir / experiment
    metrics_path, promotion_path = folder / "metrics.json", folder / "promotion.json"
    if not metrics_path.exists():
        raise DataError(f"No {metrics_path} yet: run `make run EXPERIMENT={experiment}` first.")
    promotion = json.loads(promotion_path.read_text()) if promotion_path.exists() else None
    click.echo(candidate_table(json.loads(metrics_path.read_text()), promotion))


@main.command(name="dvc")
@click.option("--check", is_flag=True, help="Exit 1 if dvc.yaml differs from what the pipelines generate.")
def dvc_yaml(check: bool) -> None:
    """Write dvc.yaml from the Kedro pipelines and catalog (per experiment, one stage per pipeline)."""
    from forgeml.dvc_stages import render_dvc_yaml, write_dvc_yaml

    if check:
        path = Path("dvc.yaml")
        if not path.exists() or path.read_text() != render_dvc_yaml(Path.cwd()):
            raise click.ClickException("dvc.yaml is out of date with the Kedro pipelines: run `forgeml dvc`.")
        click.echo("dvc.yaml matches the Kedro pipelines.")
    elif write_dvc_yaml(Path.cwd()):
        click.echo("Wrote dvc.yaml.")
    else:
        click.echo("dvc.yaml is up to date with the Kedro pipelines, catalog and experiments.")


@main.command()
@click.argument("target")
def repro(target: str) -> None:
    """Bring TARGET (a stage, e.g. breast_cancer-release) and the stages before it up to date, as `dvc repro`
    does, in this one process: kedro, MLflow and torch start once, not once per stage. `make run` uses it;
    each stage still gets its own MLflow run and its dvc.lock entry, so `dvc repro` afterwards runs nothing.
    dvc.yaml is brought in step with the pipelines, catalog and experiments first (`forgeml dvc`), so a
    changed data path is never skipped."""
    from kedro.framework.startup import bootstrap_project

    from forgeml.collector import freeze_before_exit
    from forgeml.dvc_stages import reproduce, write_dvc_yaml

    bootstrap_project(Path.cwd())
    if write_dvc_yaml(Path.cwd()):
        click.echo("Wrote dvc.yaml: the pipelines, catalog or experiments changed.")
    try:
        if not reproduce(target, run_in_process):
            click.echo("Data and pipelines are up to date.")
    finally:
        freeze_before_exit()


@main.command(name="init")
@click.argument("name", callback=_name)
@click.option("--table", type=click.Path(path_type=Path), help="A CSV or Parquet file of numeric features.")
@click.option("--texts", type=click.Path(path_type=Path), help="A CSV or Parquet file with a text column.")
@click.option("--images", type=click.Path(path_type=Path), help="A folder with one sub-folder of images per class.")
@click.option("--target", help="The label column (--table, --texts).")
@click.option("--text-column", help="The column holding the texts (--texts).")
@click.option("--size", type=int, default=None, help="Side images are resized to [default: 32, or the smallest image's].")
@click.option("--flips", is_flag=True, help="Augment images with horizontal flips (only where a mirror image means the same).")
@click.option("--intended-use", required=True, help="What the model is for: the first section of every model card.")
@click.option("--limitations", required=True, help="What it must not be used for, and what was not tested.")
def init(name: str, table: Path | None, texts: Path | None, images: Path | None, target: str | None,
         text_column: str | None, size: int | None, flips: bool, intended_use: str, limitations: str) -> None:
    """Write conf/experiments/NAME from your data; then `make run EXPERIMENT=NAME`."""
    from forgeml.modality import ImageModality, TableModality, TextModality
    from forgeml.new_experiment import write_experiment

    if sum(given is not None for given in (table, texts, images)) != 1:
        raise click.UsageError("Give exactly one of --table, --texts or --images.")
    if (table or texts) and not target:
        raise click.UsageError("--table and --texts need --target (the label column).")
    if texts and not text_column:
        raise click.UsageError("--texts needs --text-column.")
    project = Path.cwd()
    if table:
        drafted = TableModality.draft(project, table, target=target)
    elif texts:
        drafted = TextModality.draft(project, texts, text_column=text_column, target=target)
    else:
        drafted = ImageModality.draft(project, images, size=size, flips=flips)
    written = write_experiment(project, name, drafted, intended_use, limitations)
    click.echo(f"Wrote the experiment {name!r} ({drafted.modality}):")
    for path in written:
        click.echo(f"  {path.relative_to(project)}")
    click.echo(f"Review the drafted suite in conf/experiments/{name}/parameters_data.yml, then: make run EXPERIMENT={name}")


@main.command(name="suggest-suite")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The label column.")
@click.option("--name", default=None, help="Experiment name (default: the file's stem).")
def suggest_suite_command(table: Path, target: str, name: str | None) -> None:
    """Draft an expectation suite from a CSV or Parquet table you trust; paste it into parameters_data.yml."""
    import yaml

    from forgeml.new_experiment import read_table
    from forgeml.validation import suggest_suite

    frame = read_table(table)
    if target not in frame.columns:
        raise DataError(f"{table} has no column {target!r}; its columns: {', '.join(frame.columns)}")
    suite = {"data": {"validation": {"suites": {name or table.stem: suggest_suite(frame, target)}}}}
    click.echo(yaml.safe_dump(suite, sort_keys=False, default_flow_style=None, width=120))


def _registry_command(function):
    """The options of a move by hand: the model, why, by whom, the registry and the audit log."""
    for option in (audit_log_option, tracking_uri_option,
                   click.option("--by", "actor", default=None, help="Who moves it (default: your user name)."),
                   click.option("--reason", required=True, help="Why: kept on the version's tags and in the audit log."),
                   model_option):
        function = option(function)
    return function


def _audit_log(model: str, given: Path | None) -> Path:
    return given or REPORTING / model / "audit.jsonl"  # release.audit_log's default


@contextmanager
def _registry(model: str, tracking_uri: str) -> Iterator[None]:
    """The block on the registry at ``tracking_uri``: the store failing (locked, unreachable) stops the command
    with exit 2 and what to do; a move it interrupted is finished by `forgeml reconcile`."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    except (MlflowException, SQLAlchemyError, ConnectionError) as error:
        cause = str(getattr(error, "message", error)).splitlines()[0][:300]
        raise RegistryError(f"The model registry at {tracking_uri} failed ({type(error).__name__}: {cause}). Once it answers, "
                      f"run `forgeml reconcile --model {model}`: it finishes any alias move this left half done.") from None


def _move_alias(model: str, move, tracking_uri: str) -> None:
    with _registry(model, tracking_uri):
        record = move()
    click.echo(f"{record['model']}@{record['alias']}: version {record['previous']} -> {record['version']} ({record['reason']}).")


@main.command()
@_registry_command
@click.option("--version", required=True, help="The version to make champion.")
@alias_option
def promote(model: str, version: str, reason: str, actor: str | None, tracking_uri: str, audit_log: Path | None,
            alias: str) -> None:
    """Point the champion alias at a version by hand (the gate is skipped, the move is recorded)."""
    from forgeml.registry.moves import promote as promote_version

    _move_alias(model, lambda: promote_version(model, version, alias, reason, _audit_log(model, audit_log),
                                               _by_hand(actor)), tracking_uri)


@main.command()
@_registry_command
@alias_option
def rollback(model: str, reason: str, actor: str | None, tracking_uri: str, audit_log: Path | None, alias: str) -> None:
    """Point the champion alias back at the version it pointed at before its last move."""
    from forgeml.registry.moves import rollback as rollback_alias

    _move_alias(model, lambda: rollback_alias(model, reason, _audit_log(model, audit_log), _by_hand(actor), alias),
                tracking_uri)


def _by_hand(actor: str | None) -> str:
    import getpass

    return actor or f"{getpass.getuser()} (by hand)"


@main.command()
@model_option
@tracking_uri_option
@audit_log_option
def reconcile(model: str, tracking_uri: str, audit_log: Path | None) -> None:
    """Complete an alias move a crash left half done (release, retrain, promote and rollback run this first)."""
    from forgeml.registry.moves import reconcile as complete_pending, registry_lock

    path = _audit_log(model, audit_log)
    with _registry(model, tracking_uri), registry_lock(model):
        plan = complete_pending(model, path)
    if plan is None:
        click.echo(f"{model}: no alias move was left half done.")
        return
    for move in plan["moves"]:
        click.echo(f"{model}@{move['alias']} -> version {move['version']}: completed a move a crash had interrupted.")


@main.command(name="verify")
@model_option
@alias_option
@tracking_uri_option
def verify_model(model: str, alias: str, tracking_uri: str) -> None:
    """Check that a registered version's files are the ones registered (what `make serve` runs first)."""
    import tempfile

    from forgeml.registry.tracking import alias_version, load_verified

    with _registry(model, tracking_uri):
        version = alias_version(model, alias)
        if version is None:
            raise ConfigError(f"{model!r} has no {alias!r} alias.")
        with tempfile.TemporaryDirectory() as folder:
            load_verified(model, version, Path(folder))
    click.echo(f"{model}@{alias} (version {version}): files match the SHA-256 recorded at registration.")


@main.group()
def audit() -> None:
    """The audit log of gate decisions and alias moves."""


@audit.command(name="verify")
@model_option
@audit_log_option
@tracking_uri_option
def audit_verify(model: str, audit_log: Path | None, tracking_uri: str) -> None:
    """Check the log: its hash chain, and against the registry its anchored head and the records MLflow holds;
    exit 1 naming every edited, inserted, deleted, cut-off or unreadable record."""
    from forgeml.registry.audit import read_records, verify
    from forgeml.registry.moves import registry_copy

    path = _audit_log(model, audit_log)
    if not path.exists():
        raise DataError(f"No audit log at {path}.")
    with _registry(model, tracking_uri):
        anchor, mirrored = registry_copy(model)
    problems = verify(path, anchor, mirrored)
    if problems:
        click.secho(f"{path}: the audit log does not verify.", fg="red", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        raise SystemExit(1)
    against = (f"matches the registry's anchor ({anchor['count']} records) and its {len(mirrored)} copies in MLflow"
               if anchor else f"no alias of {model!r} has moved in {tracking_uri} yet, so only the chain was checked")
    click.echo(f"{path}: {len(read_records(path))} records, hash chain intact; {against}.")


@main.command(name="retrain")
@experiment_option
@click.option("--env", envvar="KEDRO_ENV", default="local", show_default=True,
              help="The Kedro env it runs in (local, test, postgres).")
@click.option("--wait", is_flag=True, help="Wait for a retrain that is already running, instead of stopping.")
def retrain_command(experiment: str, env: str, wait: bool) -> None:
    """Retrain the champion's recipe if the raw data changed, and promote it only past the gate.

    For cron or a systemd timer: with no new data it does nothing (exit 0); a second retrain of the
    same experiment stops (exit 3) or waits (--wait); bad data or settings exit 2.
    """
    from forgeml.scheduling import RetrainBusy, retrain

    try:
        promotion = retrain(Path.cwd(), experiment, env, wait, echo=click.echo)
    except RetrainBusy as error:
        click.secho(str(error), fg="yellow", err=True)
        sys.exit(3)
    if promotion is not None:
        verdict = "promoted to champion" if promotion["promoted"] else f"not promoted (rule: {promotion['rule']})"
        click.echo(f"Retrained as version {promotion['challenger']['version']}: {verdict}. {promotion['reason']}.")
