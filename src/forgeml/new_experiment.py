"""`forgeml init`: a new experiment from a user's table, text table or image folder, in one command.

The modality drafts the experiment from the data (``Modality.draft``): the data's catalog entry (a path relative
to the project), the experiment (modality, target, text column or image size) and a validation suite drafted from
the data itself. This module writes that draft to ``conf/experiments/NAME/`` with the card's intended use and
limitations, and the modality's candidates, study and compression from its template
(``forgeml/templates/<modality>.yml``). ``make run EXPERIMENT=NAME`` then writes its DVC stages and runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forgeml.data.sources import read_errors
from forgeml.errors import ConfigError, DataError


@dataclass(frozen=True)
class Draft:
    """A new experiment as its modality drafted it from the user's data (``Modality.draft``)."""

    catalog: dict[str, Any]  # the catalog entry `source`
    experiment: dict[str, Any]  # `experiment` in parameters.yml: modality, target, text or image settings
    suite: dict[str, Any]  # the expectation suite, drafted from the data
    template_changes: dict[str, Any] = field(default_factory=dict)  # merged into the modality's template

    @property
    def modality(self) -> str:
        return self.experiment["modality"]


def project_path(project: Path, data: Path) -> str:
    """``data`` relative to the project: cards, tags and DVC stages never name this machine's folders."""
    try:
        return Path(data).resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        raise ConfigError(f"{data} is outside the project {project}: copy it under data/01_raw/ so that DVC can "
                          "version it and every machine finds it at the same place.") from None


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (UTF-8, with a header row) or Parquet table; a DataError naming the file when it cannot be read."""
    with read_errors(path):
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        return pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)


SOURCE_TYPE = "forgeml.datasets.TableFileDataset"  # what a drafted catalog reads a CSV or Parquet source with


def require_columns(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"{path} has no column {', '.join(map(repr, missing))}; its columns: "
                        f"{', '.join(map(str, frame.columns))}.")


def write_experiment(project: Path, name: str, drafted: Draft, intended_use: str, limitations: str) -> list[Path]:
    """Write ``conf/experiments/<name>/`` from a drafted experiment and the modality's template (with the
    drafted ``template_changes`` merged in); refuses to overwrite an experiment that exists."""
    from omegaconf import OmegaConf

    folder = project / "conf" / "experiments" / name
    if folder.exists():
        raise ConfigError(f"The experiment {name!r} exists ({folder}); pick another name or remove the folder.")
    template = yaml.safe_load(resources.files("forgeml.templates").joinpath(f"{drafted.modality}.yml").read_text())
    files = OmegaConf.to_container(OmegaConf.merge(template, drafted.template_changes))
    files.update({
        "catalog.yml": {"source": drafted.catalog},
        "parameters.yml": {"experiment": drafted.experiment},
        "parameters_data.yml": {"data": {"validation": {"suites": {name: drafted.suite}}}},
        "parameters_release.yml": {"release": {"model_card": {"intended_use": intended_use, "limitations": limitations}}},
    })
    folder.mkdir(parents=True)
    written = []
    for file, content in sorted(files.items()):
        path = folder / file
        path.write_text(f"# Written by `forgeml init {name}`; edit freely.\n"
                        + yaml.safe_dump(content, sort_keys=False, default_flow_style=None, width=120,
                                         allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written
