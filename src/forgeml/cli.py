"""Kedro project commands: ``kedro run`` with errors a user can act on.

Kedro loads ``cli`` from here and lets it override its own commands. Our ``run`` takes kedro's options
plus ``--experiment`` (the folder under conf/experiments; FORGEML_EXPERIMENT), and turns a ForgeML error
(bad data, bad configuration) into its message and exit code 2, instead of a traceback.
"""

import sys
from contextlib import contextmanager

import click
from kedro.framework.cli.project import run as kedro_run


@click.group(name="forgeml")
def cli() -> None:
    """ForgeML project commands."""


@cli.command(name="run", params=kedro_run.params, help=kedro_run.help, short_help=kedro_run.short_help)
@click.option("--experiment", envvar="FORGEML_EXPERIMENT", default=None,
              help="The experiment to run: a folder under conf/experiments [default: breast_cancer].")
@click.pass_context
def run(context: click.Context, experiment: str | None, **options) -> None:
    import os

    from forgeml.experiments import EXPERIMENT_VARIABLE

    if experiment:
        os.environ[EXPERIMENT_VARIABLE] = experiment  # read by the config loader the session creates
    with user_errors_exit_2():
        context.invoke(kedro_run.callback, **options)


@contextmanager
def user_errors_exit_2():
    """Bad data or settings (a ForgeML error), or a catalog entry that cannot be read (a missing, empty or
    undecodable file), end the command with a paragraph that names it and exit code 2, not a traceback."""
    from kedro.io import DatasetError

    from forgeml.errors import ForgeMLError

    try:
        yield
    except ForgeMLError as error:
        _stop(f"ForgeML stopped: {type(error).__name__}\n{error}")
    except DatasetError as error:  # most often a missing, empty or unreadable input file
        _stop(f"ForgeML stopped: a catalog entry could not be read or written.\n{error}\n"
              "Check the file (a CSV must be UTF-8 text with a header row), and the entry's filepath in "
              "conf/base/catalog.yml or in the experiment's own catalog.yml (conf/experiments/<name>/catalog.yml).")


def run_in_process(command: str) -> None:
    """Run a DVC stage's ``kedro run ...`` command (as dvc.yaml holds it) through ``run`` in this process, whose
    project is bootstrapped: a ForgeML error still ends it with its paragraph and exit code 2."""
    import shlex

    words = shlex.split(command)
    if words[:2] != ["kedro", "run"]:
        raise click.UsageError(f"{command!r} is not a `kedro run` command; run its stage with `dvc repro`.")
    cli.main(words[1:], prog_name="kedro", standalone_mode=False)


def _stop(message: str) -> None:
    click.secho(f"\n{message}", fg="red", err=True)
    sys.exit(2)
