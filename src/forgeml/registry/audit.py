"""The append-only audit log of gate decisions and alias moves: one JSON object per line, hash-chained.

Every record carries ``previous_hash`` (the ``hash`` of the record before it; zeros for the first) and its
own ``hash``, a SHA-256 over both and its content, so an edited, inserted or deleted record breaks the
chain where it happened (``verify``). Appends take an exclusive lock on the file and are fsynced, so
two writers never interleave and an acknowledged record survives a crash. A crash in the middle of a
write leaves a partial last line: readers skip it, and the next append cuts it off and records that it
did (``event: repaired``), so nothing disappears unsaid.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
CHAIN_KEYS = ("previous_hash", "hash")


def record_hash(record: dict[str, Any], previous_hash: str) -> str:
    content = {key: value for key, value in record.items() if key not in CHAIN_KEYS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{previous_hash}\n{canonical}".encode()).hexdigest()


def _complete_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines, and what follows the last newline (a write cut short)."""
    complete, _, partial = data.rpartition(b"\n")
    return [line for line in complete.split(b"\n") if line.strip()] if complete else [], partial


def append_records(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append ``records`` under an exclusive lock, chained to the last record, and fsync; earlier lines are
    never rewritten. Returns the records as written (with their hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # released when the file closes
        log.seek(0)
        lines, partial = _complete_lines(log.read())
        if partial.strip():
            log.truncate(log.tell() - len(partial))
            records = [{"event": "repaired", "reason": "a partial last line (an interrupted write) was cut off",
                        "dropped": partial.decode("utf-8", "replace")[:500]}, *records]
        previous = json.loads(lines[-1]).get("hash", GENESIS) if lines else GENESIS
        written = []
        for record in records:
            chained = {**{k: v for k, v in record.items() if k not in CHAIN_KEYS}, "previous_hash": previous}
            chained["hash"] = previous = record_hash(chained, chained["previous_hash"])
            written.append(chained)
        log.seek(0, os.SEEK_END)
        log.write(b"".join(json.dumps(record, sort_keys=True).encode() + b"\n" for record in written))
        log.flush()
        os.fsync(log.fileno())
    return written


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record (a partial last line, from an interrupted write, is not a record)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in _complete_lines(path.read_bytes())[0]]


def verify(path: Path) -> list[str]:
    """What breaks the chain, line by line (empty when the log is intact): an edited record no longer
    matches its hash; an inserted or deleted one leaves a record whose ``previous_hash`` is not the hash
    of the record before it. Records written before the log was chained (no hash) are reported too."""
    problems, previous = [], GENESIS
    for number, record in enumerate(read_records(path), start=1):
        if "hash" not in record:
            problems.append(f"line {number}: no hash (written before the audit log was hash-chained)")
            continue
        if record.get("previous_hash") != previous:
            problems.append(f"line {number}: does not follow line {number - 1} "
                            "(a record before it was deleted, or this one was inserted)")
        if record_hash(record, record.get("previous_hash", "")) != record["hash"]:
            problems.append(f"line {number}: its content does not match its hash (the record was edited)")
        previous = record["hash"]
    return problems
