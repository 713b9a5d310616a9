"""Pickles that are unpickled only when their bytes are the ones a run of this project wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro_datasets.pickle import PickleDataset

SIDECAR_SUFFIX = ".md5"


class VerifiedPickleDataset(PickleDataset):
    """A PickleDataset (models, tensors) that checks a file's MD5 before unpickling it, since unpickling runs code.

    The file is trusted when its MD5 is the one recorded when ForgeML saved it (``<file>.md5`` beside it) or
    the one ``dvc.lock`` records for it (a ``dvc checkout`` or ``dvc pull`` restores files with DVC's hash);
    anything else (a file replaced or corrupted since) is refused with a DataError naming the file.

    Example catalog entry::

        candidates:
          type: forgeml.datasets.VerifiedPickleDataset
          filepath: data/06_models/${globals:experiment}/candidates.pkl
    """

    def __init__(self, *, filepath: str, dvc_lock: str = "dvc.lock", **kwargs: Any):
        super().__init__(filepath=filepath, **kwargs)
        self._path, self._dvc_lock = Path(filepath), Path(dvc_lock)

    def load(self) -> Any:
        from forgeml.data.sources import file_md5
        from forgeml.errors import DataError

        recorded = {f"ForgeML's record {self._sidecar}": _read(self._sidecar), str(self._dvc_lock): self._dvc_md5()}
        actual = file_md5(self._path)
        if actual not in recorded.values():
            known = "; ".join(f"{where}: {md5}" for where, md5 in recorded.items() if md5) or "no hash was recorded"
            raise DataError(
                f"{self._path} is not the file this project wrote (MD5 {actual}; {known}), so it is not unpickled. "
                "Run the stage that writes it again (`dvc repro`, or `kedro run --pipelines <stage>`), or "
                "`dvc checkout` it.")
        return super().load()

    def save(self, data: Any) -> None:
        from forgeml.data.sources import file_md5

        super().save(data)
        self._sidecar.write_text(file_md5(self._path) + "\n")

    @property
    def _sidecar(self) -> Path:
        return self._path.with_name(self._path.name + SIDECAR_SUFFIX)

    def _dvc_md5(self) -> str | None:
        """What dvc.lock records for this file as some stage's output, if anything."""
        import yaml

        if not self._dvc_lock.exists():
            return None
        try:  # dvc.lock names outputs relative to its own folder; Kedro hands datasets absolute paths
            wanted = self._path.resolve().relative_to(self._dvc_lock.resolve().parent).as_posix()
        except ValueError:  # a file outside the DVC project: not DVC's output
            return None
        for stage in (yaml.safe_load(self._dvc_lock.read_text()) or {}).get("stages", {}).values():
            for out in stage.get("outs", []):
                if out.get("path") == wanted:
                    return out.get("md5")
        return None


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None
