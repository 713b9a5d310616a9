"""The audit log: hash-chained, locked, fsynced appends; edits, insertions, deletions and torn writes are found."""

from __future__ import annotations

import json
import multiprocessing
import subprocess

from forgeml.registry.audit import append_records, read_records, verify
from tests.pipelines.conftest import project_env


def written_log(tmp_path, count=5):
    path = tmp_path / "audit.jsonl"
    for index in range(count):
        append_records(path, [{"event": "alias moved", "version": str(index)}])
    return path


def rewrite(path, change):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def test_an_intact_log_verifies_and_every_record_is_chained(tmp_path):
    path = written_log(tmp_path)
    records = read_records(path)
    assert verify(path) == [] and [r["version"] for r in records] == ["0", "1", "2", "3", "4"]
    assert all(b["previous_hash"] == a["hash"] for a, b in zip(records, records[1:]))


def test_an_edited_record_is_named(tmp_path):
    path = written_log(tmp_path)
    rewrite(path, lambda lines: [*lines[:2], lines[2].replace('"version": "2"', '"version": "9"'), *lines[3:]])
    assert verify(path) == ["line 3: its content does not match its hash (the record was edited)"]


def test_a_deleted_and_an_inserted_record_are_named(tmp_path):
    path = written_log(tmp_path)
    rewrite(path, lambda lines: [*lines[:1], *lines[2:]])
    assert verify(path) == ["line 2: does not follow line 1 (a record before it was deleted, or this one was inserted)"]
    path = written_log(tmp_path / "second")
    forged = json.dumps({"event": "alias moved", "version": "7", "previous_hash": "0" * 64, "hash": "f" * 64})
    rewrite(path, lambda lines: [*lines[:3], forged, *lines[3:]])
    problems = verify(path)
    assert problems[0].startswith("line 4: does not follow line 3") and problems[-1].startswith("line 5: does not follow")


def test_a_torn_last_line_is_skipped_then_cut_off_and_recorded(tmp_path):
    path = written_log(tmp_path, count=2)
    with path.open("ab") as log:
        log.write(b'{"event": "alias moved", "vers')  # a crash in the middle of a write
    assert len(read_records(path)) == 2
    append_records(path, [{"event": "gate", "version": "3"}])
    records = read_records(path)
    assert [r["event"] for r in records] == ["alias moved", "alias moved", "repaired", "gate"]
    assert records[2]["dropped"] == '{"event": "alias moved", "vers' and verify(path) == []


def _append_many(path, writer, count):
    for index in range(count):
        append_records(path, [{"event": "alias moved", "writer": writer, "index": index}])


def test_two_processes_appending_at_once_never_interleave(tmp_path):
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_many, args=(path, writer, 40)) for writer in ("a", "b")]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    records = read_records(path)
    assert len(records) == 80 and verify(path) == []
    for writer in ("a", "b"):
        assert [r["index"] for r in records if r["writer"] == writer] == list(range(40))


def test_forgeml_audit_verify_exits_1_naming_the_edited_line(tmp_path):
    path = written_log(tmp_path)
    command = ["forgeml", "audit", "verify", "--model", "m", "--audit-log", str(path), "--tracking-uri",
               f"sqlite:///{tmp_path / 'mlflow.db'}"]  # a registry where m never moved: the chain alone is checked
    intact = subprocess.run(command, capture_output=True, text=True, env=project_env())
    assert intact.returncode == 0 and "5 records, hash chain intact; no alias of 'm' has moved" in intact.stdout
    rewrite(path, lambda lines: [*lines[:4], lines[4].replace('"4"', '"5"')])
    broken = subprocess.run(command, capture_output=True, text=True, env=project_env())
    assert broken.returncode == 1 and "line 5: its content does not match its hash" in broken.stderr
