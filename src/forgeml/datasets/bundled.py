"""A read-only Kedro dataset for the data sets that ship with scikit-learn."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError


class BundledDataset(AbstractDataset[None, pd.DataFrame]):
    """Loads ``breast_cancer`` or ``digits`` as features plus a ``target`` column, or the ``reviews`` texts.

    Example catalog entry::

        source:
          type: forgeml.datasets.BundledDataset
          name: breast_cancer
    """

    def __init__(self, name: str, metadata: dict[str, Any] | None = None):
        self._name = name  # checked on load
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        from forgeml.data import load_bundled

        return load_bundled(self._name)

    def content_hash(self) -> str:
        """The data's version (it has no file for DVC to hash)."""
        from forgeml.data.sources import frame_hash

        return frame_hash(self.load())

    def save(self, data: None) -> None:
        raise DatasetError(f"The bundled data set {self._name!r} is read-only.")

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name}

    def _exists(self) -> bool:
        return True
