"""A file written beside its place and moved there once complete, so a failed write leaves the previous one."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replaced_when_complete(path: Path) -> Iterator[Path]:
    """The path to write instead of ``path`` (``<path>.partial``): moved onto ``path`` when the block ends, removed
    when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
