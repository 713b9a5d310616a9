"""Files between stages that load only when their bytes are the ones a run of this project wrote.

Arrays (the splits as the models' input) are NumPy files; trained models are a zip of their weights,
blueprints and estimator files (forgeml.models.files). Neither is unpickled, and either is refused when the
file changed after it was written.
"""

from __future__ import annotations

import json
import math
import struct
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from forgeml.data.batches import ArrayBatches
from forgeml.data.sources import file_md5
from forgeml.datasets.replaced import replaced_when_complete
from forgeml.errors import DataError
from forgeml.models.files import load_classifier, save_classifier

SIDECAR_SUFFIX = ".md5"
ZIP_LOCAL_HEADER = 30  # bytes of a zip member's local header before its name and extra field
ZIP_LOCAL_HEADER_NAME_LENGTHS = 26  # where the two lengths of those sit in it


class WrittenHere:
    """The MD5 a file had when ForgeML wrote it (``<file>.md5`` beside it), or the one ``dvc.lock`` records
    for it (a ``dvc checkout`` or ``dvc pull`` restores files with DVC's hash): ``check`` refuses anything
    else, a file replaced or corrupted since, with a DataError naming the file."""

    def __init__(self, path: Path, dvc_lock: Path):
        self.path, self.dvc_lock = path, dvc_lock
        self.sidecar = path.with_name(path.name + SIDECAR_SUFFIX)

    def record(self) -> None:
        self.sidecar.write_text(file_md5(self.path) + "\n")

    def check(self) -> None:
        recorded = {f"ForgeML's record {self.sidecar}": _read(self.sidecar), str(self.dvc_lock): self._dvc_md5()}
        actual = file_md5(self.path)
        if actual not in recorded.values():
            known = "; ".join(f"{where}: {md5}" for where, md5 in recorded.items() if md5) or "no hash was recorded"
            raise DataError(
                f"{self.path} is not the file this project wrote (MD5 {actual}; {known}), so it is not loaded. "
                "Run the stage that writes it again (`dvc repro`, or `kedro run --pipelines <stage>`), or "
                "`dvc checkout` it.")

    def _dvc_md5(self) -> str | None:
        """What dvc.lock records for this file as some stage's output, if anything."""
        import yaml

        if not self.dvc_lock.exists():
            return None
        try:  # dvc.lock names outputs relative to its own folder; Kedro hands datasets absolute paths
            wanted = self.path.resolve().relative_to(self.dvc_lock.resolve().parent).as_posix()
        except ValueError:  # a file outside the DVC project: not DVC's output
            return None
        for stage in (yaml.safe_load(self.dvc_lock.read_text()) or {}).get("stages", {}).values():
            for out in stage.get("outs", []):
                if out.get("path") == wanted:
                    return out.get("md5")
        return None


class _VerifiedFile(AbstractDataset):
    """One file, which ``WrittenHere`` vouches for before it is read."""

    def __init__(self, *, filepath: str, dvc_lock: str = "dvc.lock", metadata: dict[str, Any] | None = None):
        self._filepath, self.metadata = PurePosixPath(filepath), metadata  # _filepath: what the DVC stages track
        self._written = WrittenHere(Path(filepath), Path(dvc_lock))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._written.path.exists()


class VerifiedArraysDataset(_VerifiedFile):
    """Named arrays in one ``.npz`` file (``numpy.savez``), read with pickles refused, once ``WrittenHere``
    vouches for the file.

    Example catalog entry::

        tensors:
          type: forgeml.datasets.VerifiedArraysDataset
          filepath: data/04_feature/${globals:experiment}/tensors.npz
    """

    def load(self) -> dict[str, np.ndarray]:
        """Each array memory-mapped (copy-on-write): its rows are read from the file as they are used, so a split
        larger than memory trains a batch at a time (forgeml.training.data)."""
        self._written.check()
        return _mapped_members(self._written.path)

    def save(self, data: dict[str, np.ndarray | ArrayBatches]) -> None:
        """Each array whole, or a batch at a time (``ArrayBatches``): as ``numpy.savez`` writes them, one ``.npy``
        member per name, never holding a whole array that comes in batches."""
        with replaced_when_complete(self._written.path) as partial, \
                zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in data.items():
                batches = array if isinstance(array, ArrayBatches) else ArrayBatches(len(array), lambda a=array: iter([a]))
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    _write_npy(member, batches, name)
        self._written.record()


def _write_npy(stream, batches: ArrayBatches, name: str) -> None:
    """An ``.npy`` of the batches' rows, its header from the first batch's dtype and row shape."""
    rows, written, header = batches.rows, 0, None
    for batch in batches:
        batch = np.ascontiguousarray(batch)
        if header is None:
            header = {"descr": np.lib.format.dtype_to_descr(batch.dtype), "fortran_order": False,
                      "shape": (rows, *batch.shape[1:])}
            np.lib.format.write_array_header_2_0(stream, header)
        stream.write(batch.tobytes())
        written += len(batch)
    if written != rows:
        raise DataError(f"The array {name!r} was to have {rows} rows; its batches held {written}.")


def _mapped_members(path: Path) -> dict[str, np.ndarray]:
    """The ``.npy`` members of an uncompressed ``.npz`` as memory maps (NumPy's ``mmap_mode`` does not reach into an
    ``.npz``): each member's data starts after its zip local header and its ``.npy`` header, whose lengths are read
    from the file. Arrays of objects, which only pickles could hold, are refused."""
    arrays = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as file:
        for member in archive.infolist():
            name = member.filename.removesuffix(".npy")
            if member.compress_type != zipfile.ZIP_STORED:
                raise DataError(f"{path}: the array {name!r} is compressed; ForgeML writes its arrays uncompressed.")
            file.seek(member.header_offset + ZIP_LOCAL_HEADER_NAME_LENGTHS)
            name_length, extra_length = struct.unpack("<HH", file.read(4))
            file.seek(member.header_offset + ZIP_LOCAL_HEADER + name_length + extra_length)
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(file)
            if dtype.hasobject:
                raise DataError(f"{path}: the array {name!r} holds Python objects, which are not loaded (pickles).")
            order = "F" if fortran_order else "C"
            arrays[name] = np.memmap(path, dtype, "c", file.tell(), shape, order) if math.prod(shape) \
                else np.empty(shape, dtype, order)  # a file cannot map zero bytes
    return arrays


class VerifiedClassifiersDataset(_VerifiedFile):
    """Classifiers by name (a stage's candidates) in one zip file: a folder each, as forgeml.models.files writes
    it (a torch module as its weights and blueprint, so it trains on in the next stage; an INT8 module as its
    program; a scikit-learn estimator in skops' format), and the names in order. Read once ``WrittenHere``
    vouches for the file; nothing in it is a pickle.

    Example catalog entry::

        candidates:
          type: forgeml.datasets.VerifiedClassifiersDataset
          filepath: data/06_models/${globals:experiment}/candidates.zip
    """

    names_file = "names.json"  # the i-th name's classifier is in the folder named i

    def load(self) -> dict[str, Any]:
        self._written.check()
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(self._written.path) as archive:
            archive.extractall(folder)
            names = json.loads(Path(folder, self.names_file).read_text())
            return {name: load_classifier(Path(folder, str(index))) for index, name in enumerate(names)}

    def save(self, classifiers: dict[str, Any]) -> None:
        self._written.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            for index, classifier in enumerate(classifiers.values()):
                save_classifier(classifier, Path(folder, str(index)))
            Path(folder, self.names_file).write_text(json.dumps(list(classifiers)))
            with zipfile.ZipFile(self._written.path, "w", zipfile.ZIP_STORED) as archive:
                for path in sorted(Path(folder).rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(folder).as_posix())
        self._written.record()


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None
