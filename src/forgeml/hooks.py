"""Kedro hooks: lineage (tag every pipeline run with the code and data it used), and the garbage collector kept off
what a process holds when its first pipeline starts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from forgeml.data.sources import file_md5, raw_data_hash

DATA_DATASET = "table"  # the validated table every later stage trains and evaluates on
SOURCE_DATASET = "source"  # the raw data: a user's file or folder, or a bundled data set


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _project_relative(path: Path) -> str:
    """A path as cards and tags show it: relative to the project (the working directory), never this machine's."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:  # outside the project: its name only
        return path.name


MACHINE_PATH_TAGS = ("project_path",)  # kedro-mlflow tags the run with Kedro's run parameters, this one absolute


def _drop_machine_paths(client, run_id: str) -> None:
    """No tag names a folder of the machine that ran it: the run's lineage is the forgeml.* tags."""
    for key in MACHINE_PATH_TAGS:
        if key in client.get_run(run_id).data.tags:
            client.delete_tag(run_id, key)


class LineageHooks:
    """Sets forgeml.* tags (git commit, data hash, pipeline, environment) on the run kedro-mlflow opened, by its
    id: kedro-mlflow's hooks run before these and have closed it when a pipeline ends or fails."""

    _run_id: str | None = None
    _raw_md5: str | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        self._raw_md5 = None  # the raw data is read-only to every pipeline: hashed once per run, in _tag
        self._tag(run_params, catalog)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._tag(run_params, catalog)  # again: the data pipeline has just written the table

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        if self._run_id is not None:
            _drop_machine_paths(mlflow.MlflowClient(), self._run_id)

    def _tag(self, run_params: dict[str, Any], catalog) -> None:
        import mlflow
        from mlflow.entities import RunTag

        if self._run_id is None:
            return
        client = mlflow.MlflowClient()
        _drop_machine_paths(client, self._run_id)
        tags = {
            "forgeml.git_commit": _git("rev-parse", "HEAD") or "unknown (not a git checkout)",
            "forgeml.git_dirty": str(bool(_git("status", "--porcelain", "--untracked-files=no"))),
            "forgeml.pipeline": "+".join(run_params.get("pipeline_names") or ["__default__"]),
            "forgeml.env": run_params.get("env") or "local",
        }
        filepath = getattr(catalog[DATA_DATASET], "_filepath", None) if DATA_DATASET in catalog else None
        if filepath is not None and Path(str(filepath)).exists():
            tags["forgeml.data_md5"] = file_md5(Path(str(filepath)))
            tags["forgeml.data_path"] = _project_relative(Path(str(filepath)))
        if self._raw_md5 is None and SOURCE_DATASET in catalog:  # a bundled set is loaded to be hashed
            self._raw_md5 = raw_data_hash(catalog[SOURCE_DATASET])
        if self._raw_md5 is not None:
            tags["forgeml.raw_md5"] = self._raw_md5
        client.log_batch(self._run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])


class CollectorHooks:
    """Freezes what a process holds when its first pipeline starts (forgeml.collector): imports and settings."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        from forgeml.collector import freeze_long_lived

        freeze_long_lived()
