"""The ``forgeml`` command: quick tools around the pipelines (fast to start: heavy imports are lazy)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def main() -> None:
    """ForgeML: look at results, keep dvc.yaml in step with the pipelines, draft expectation suites.

    Run the pipelines with `make run` (all stages through DVC) or `kedro run --pipelines NAME`.
    """


@main.command()
@click.option("--experiment", default="breast_cancer", show_default=True, help="The experiment to report on.")
@click.option("--reporting-dir", default="data/08_reporting", show_default=True, type=click.Path(path_type=Path))
def report(experiment: str, reporting_dir: Path) -> None:
    """Print the candidates of the last run: accuracy, robustness, size, latency, version, promotion."""
    from forgeml.reporting import candidate_table

    folder = reporting_dir / experiment
    metrics_path, promotion_path = folder / "metrics.json", folder / "promotion.json"
    if not metrics_path.exists():
        raise click.ClickException(f"No {metrics_path} yet: run `make run EXPERIMENT={experiment}` first.")
    promotion = json.loads(promotion_path.read_text()) if promotion_path.exists() else None
    click.echo(candidate_table(json.loads(metrics_path.read_text()), promotion))


@main.command(name="dvc")
@click.option("--check", is_flag=True, help="Exit 1 if dvc.yaml differs from what the pipelines generate.")
def dvc_yaml(check: bool) -> None:
    """Write dvc.yaml from the Kedro pipelines and catalog (per experiment, one stage per pipeline)."""
    from forgeml.dvc_stages import render_dvc_yaml

    generated, path = render_dvc_yaml(Path.cwd()), Path("dvc.yaml")
    if check:
        if not path.exists() or path.read_text() != generated:
            raise click.ClickException("dvc.yaml is out of date with the Kedro pipelines: run `forgeml dvc`.")
        click.echo("dvc.yaml matches the Kedro pipelines.")
        return
    path.write_text(generated)
    click.echo("Wrote dvc.yaml.")


@main.command(name="suggest-suite")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The label column.")
@click.option("--name", default=None, help="Experiment name (default: the file's stem).")
def suggest_suite_command(table: Path, target: str, name: str | None) -> None:
    """Draft an expectation suite from a CSV or Parquet table you trust; paste it into parameters_data.yml."""
    import pandas as pd
    import yaml

    from forgeml.validation import suggest_suite

    frame = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table)
    if target not in frame.columns:
        raise click.ClickException(f"{table} has no column {target!r}; its columns: {', '.join(frame.columns)}")
    suite = {"data": {"validation": {"suites": {name or table.stem: suggest_suite(frame, target)}}}}
    click.echo(yaml.safe_dump(suite, sort_keys=False, default_flow_style=None, width=120))
