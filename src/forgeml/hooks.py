"""Lineage: tag every pipeline run with the code and data it used."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

DATA_DATASET = "table"  # the validated table every later stage trains and evaluates on
SOURCE_DATASET = "source_table"  # the raw data: a user's file, or a bundled data set


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def file_md5(path: Path) -> str:
    """The MD5 DVC records for a file."""
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_hash(catalog) -> str | None:
    """The raw table's version: DVC's MD5 of the source file, or for bundled data (no file) an MD5 of its
    content. ``forgeml retrain`` compares it with the last gated version's to notice new or changed data."""
    if SOURCE_DATASET not in catalog or (catalog.load("params:experiment") or {}).get("image"):
        return None  # image experiments read an image folder, not this table
    filepath = getattr(catalog[SOURCE_DATASET], "_filepath", None)
    if filepath is not None:
        return file_md5(Path(str(filepath))) if Path(str(filepath)).is_file() else None
    import pandas as pd

    frame = catalog.load(SOURCE_DATASET)
    return "content-" + hashlib.md5(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


class LineageHooks:
    """Sets forgeml.* tags (git commit, data hash, pipeline, environment) on the run kedro-mlflow opened."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._tag(run_params, catalog)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._tag(run_params, catalog)  # again: the data pipeline has just written the table

    def _tag(self, run_params: dict[str, Any], catalog) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        tags = {
            "forgeml.git_commit": _git("rev-parse", "HEAD") or "unknown (not a git checkout)",
            "forgeml.git_dirty": str(bool(_git("status", "--porcelain", "--untracked-files=no"))),
            "forgeml.pipeline": "+".join(run_params.get("pipeline_names") or ["__default__"]),
            "forgeml.env": run_params.get("env") or "local",
        }
        filepath = getattr(catalog[DATA_DATASET], "_filepath", None) if DATA_DATASET in catalog else None
        if filepath is not None and Path(str(filepath)).exists():
            tags["forgeml.data_md5"] = file_md5(Path(str(filepath)))
            tags["forgeml.data_path"] = str(filepath)
        raw = source_hash(catalog)
        if raw is not None:
            tags["forgeml.raw_md5"] = raw
        mlflow.set_tags(tags)
