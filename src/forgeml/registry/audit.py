"""The append-only audit log of alias moves: one JSON object per line, never rewritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Append ``records``; earlier lines are never touched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        for record in records:
            log.write(json.dumps(record, sort_keys=True) + "\n")


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
