"""The audit log as a Kedro dataset: saving appends, loading reads every record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from forgeml.registry.audit import append_records, read_records


class AuditLogDataset(AbstractDataset[list, list]):
    """An append-only JSON Lines file of alias moves (forgeml.registry.audit)."""

    # Not a DVC output: DVC deletes a stage's outputs before running it, and this log must only grow.
    dvc_out = False

    def __init__(self, filepath: str):
        self._filepath = Path(filepath)

    def load(self) -> list[dict[str, Any]]:
        return read_records(self._filepath)

    def save(self, data: list[dict[str, Any]]) -> None:
        append_records(self._filepath, data)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "append_only": True}
