"""The one way ForgeML keeps two processes out of the same work: an exclusive lock on a file (filelock).

The OS releases such a lock when its holder exits, even by SIGKILL, so a crash never leaves it held. It is
local to the machine: work on several machines needs a scheduler that runs one at a time (the Airflow DAG
has max_active_runs=1). Users: the registry's alias moves (forgeml.registry.moves), scheduled retraining
(forgeml.scheduling) and appends to the audit log (forgeml.registry.audit).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from forgeml.errors import ForgeMLError

HOLDER_SUFFIX = ".holder"  # beside the lock: who holds it, for the message a waiter gets


@contextmanager
def exclusive_lock(path: Path, timeout_s: float | None, busy: Callable[[str], ForgeMLError],
                   poll_s: float = 0.05) -> Iterator[None]:
    """Hold the lock at ``path`` (its folder created), waiting at most ``timeout_s`` seconds: 0 not at all, None
    as long as it takes. Past it, ``busy(holder)`` is raised, ``holder`` saying which process holds the lock
    and since when."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = path.with_name(path.name + HOLDER_SUFFIX)
    lock = FileLock(str(path), timeout=-1 if timeout_s is None else timeout_s, poll_interval=poll_s)
    try:
        lock.acquire()
    except Timeout:
        raise busy(_read(holder) or "another process") from None
    try:
        holder.write_text(f"pid {os.getpid()}, since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:  # released between the timeout and this read
        return None
