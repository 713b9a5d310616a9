"""The append-only audit log of gate decisions and alias moves: one JSON object per line, hash-chained.

Every record carries ``previous_hash`` (the ``hash`` of the record before it; zeros for the first) and its
own ``hash``, a SHA-256 over both and its content, so an edited, inserted or deleted record breaks the
chain where it happened (``verify``). Appends hold the log's lock (forgeml.locks) and are fsynced, so
two writers never interleave and an acknowledged record survives a crash. A crash in the middle of a
write leaves a partial last line: readers skip it, and the next append cuts it off and records that it
did (``event: repaired``), so nothing disappears unsaid.

The chain alone cannot see its own end cut off, or a log rewritten with its chain recomputed. Each alias move
therefore anchors the log in the registry (forgeml.registry.moves: the record count and the last hash, as a
registered-model tag) and mirrors its records as version tags; ``verify`` checks the log against both. A line
that is not JSON stops every reader with its line number (``AuditLogError``): alias moves wait until it is
repaired.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from forgeml.errors import AuditLogError
from forgeml.locks import exclusive_lock

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
    with exclusive_lock(path.with_name(path.name + ".lock"), None, AuditLogError), path.open("a+b") as log:
        log.seek(0)
        lines, partial = _complete_lines(log.read())
        _parsed(lines, path)  # a line that is not a record stops here: nothing is chained onto a broken log
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


def _parsed(lines: list[bytes], path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError as error:
            record = error
        if not isinstance(record, dict):
            raise AuditLogError(
                f"Line {number} of the audit log {path} is not a JSON record ({str(record)[:120]}). No alias moves "
                "until it is repaired: restore the line from a backup, or from its copy in MLflow (the forgeml.audit.* "
                "tags of the versions), then run `forgeml audit verify`.")
        records.append(record)
    return records


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record (a partial last line, from an interrupted write, is not a record); an
    AuditLogError naming the first line that is not one."""
    if not path.exists():
        return []
    return _parsed(_complete_lines(path.read_bytes())[0], path)


def verify(path: Path, anchor: dict[str, Any] | None = None, mirrored: list[dict[str, Any]] = ()) -> list[str]:
    """What is wrong with the log, line by line (empty when it is intact).

    The chain: an edited record no longer matches its hash; an inserted or deleted one leaves a record whose
    ``previous_hash`` is not the hash of the record before it; records written before the log was chained (no
    hash) are reported too; a line that is not JSON is named. Against the registry: ``anchor`` (``count`` and
    ``hash`` of the last record when an alias last moved) finds records cut off the end and a log rewritten with
    its chain recomputed; ``mirrored`` (the records MLflow holds as version tags) finds any of them missing from
    the log or different in it."""
    try:
        records = read_records(path)
    except AuditLogError as error:
        return [str(error)]
    problems, previous = [], GENESIS
    for number, record in enumerate(records, start=1):
        if "hash" not in record:
            problems.append(f"line {number}: no hash (written before the audit log was hash-chained)")
            continue
        if record.get("previous_hash") != previous:
            problems.append(f"line {number}: does not follow line {number - 1} "
                            "(a record before it was deleted, or this one was inserted)")
        if record_hash(record, record.get("previous_hash", "")) != record["hash"]:
            problems.append(f"line {number}: its content does not match its hash (the record was edited)")
        previous = record["hash"]
    if anchor:
        if len(records) < anchor["count"]:
            problems.append(f"the log has {len(records)} records, but the registry anchored {anchor['count']} at the "
                            "last alias move: records were cut off its end")
        elif records[anchor["count"] - 1].get("hash") != anchor["hash"]:
            problems.append(f"line {anchor['count']}: not the record the registry anchored at the last alias move "
                            f"(hash {anchor['hash'][:16]}...): the log was rewritten")
    by_hash = {record.get("hash"): record for record in records}
    for copy in mirrored:
        logged = by_hash.get(copy.get("hash"))
        if logged is None:
            problems.append(f"the record {copy.get('hash', '')[:16]}... ({copy.get('event')} of version "
                            f"{copy.get('version')}, {copy.get('at')}) is in MLflow but not in the log")
        elif logged != copy:
            problems.append(f"line {records.index(logged) + 1}: differs from its copy in MLflow")
    return problems
