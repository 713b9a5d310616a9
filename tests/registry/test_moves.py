"""Alias moves under faults, on a real SQLite registry: a promotion killed (SIGKILL) before each of its steps,
two promotions at once, and a tracking server stopped during a release."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forgeml.cli import main
from forgeml.registry.audit import read_records, verify
from forgeml.registry.moves import AUDIT_TAG, PENDING_MOVE
from forgeml.registry.tracking import MODEL_SHA256, REGISTRATION
from tests.pipelines.conftest import REPO, project_env

MODEL = "m"


@pytest.fixture
def store(sqlite_registry, tmp_path):
    """Versions 1-3 of ``m``, version 1 champion (set by a promotion, so it is in the log)."""
    client, uri = sqlite_registry
    for _ in range(3):
        version = client.create_model_version(MODEL, str(tmp_path)).version
        client.set_model_version_tag(MODEL, version, MODEL_SHA256, "0" * 64)  # registered whole, as a release does
    audit_log = tmp_path / "audit.jsonl"
    assert forgeml("promote", "--version", "1", "--reason", "first", uri=uri, audit_log=audit_log).exit_code == 0
    return client, uri, audit_log


def forgeml(*args: str, uri: str, audit_log) -> object:
    """The `forgeml` command in this process (the fast path, for what is not under test)."""
    return CliRunner().invoke(main, [*args, "--model", MODEL, "--tracking-uri", uri, "--audit-log", str(audit_log)])


def faulty_promote(mode: str, method: str, amount, version: str, uri: str, audit_log) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.registry.faulty_cli", mode, method, str(amount), "--", "promote",
               "--version", version, "--reason", f"to {version}", "--model", MODEL, "--tracking-uri", uri,
               "--audit-log", str(audit_log)]
    return subprocess.Popen(command, cwd=REPO, env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# Each step of a promotion of version 2 (forgeml.registry.moves): (method, which call), and whether the intent
# was written before it. set_model_version_tag: 5 tags for the move, then one per audit record.
STEPS = {
    "before the intent": ("set_registered_model_tag", 1, False),
    "before the alias moves": ("set_registered_model_alias", 1, True),
    "before the version's tags": ("set_model_version_tag", 1, True),
    "before the audit log": ("append_records", 1, True),
    "before the audit tag": ("set_model_version_tag", 6, True),
    "before done": ("delete_registered_model_tag", 1, True),
}


@pytest.mark.parametrize("step", STEPS)
def test_a_promotion_killed_at_any_step_is_reconciled_to_old_or_new_never_none(store, step):
    client, uri, audit_log = store
    method, nth, intent_written = STEPS[step]
    process = faulty_promote("kill", method, nth, "2", uri, audit_log)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == -signal.SIGKILL, output

    assert client.get_model_version_by_alias(MODEL, "champion").version is not None  # never none, even before reconcile
    result = forgeml("reconcile", uri=uri, audit_log=audit_log)
    assert result.exit_code == 0, result.output
    assert ("completed a move" in result.output) == intent_written

    champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
    assert champion == ("2" if intent_written else "1")
    assert PENDING_MOVE not in client.get_registered_model(MODEL).tags
    moves = [r for r in read_records(audit_log) if r["event"] == "alias moved"]
    assert [(m["previous"], m["version"]) for m in moves] == [(None, "1")] + ([("1", "2")] if intent_written else [])
    assert verify(audit_log) == []
    tags = client.get_model_version(MODEL, champion).tags  # alias, tags and log agree
    assert tags["forgeml.champion.reason"] == moves[-1]["reason"] and tags["forgeml.champion.at"] == moves[-1]["at"]
    assert json.loads(tags[f"{AUDIT_TAG}{moves[-1]['hash'][:16]}"]) == moves[-1]


def test_two_promotions_at_once_are_serialized_and_the_log_verifies(store):
    client, uri, audit_log = store
    # each slowed down inside its move, so that without the registry lock their steps would interleave
    promotions = [faulty_promote("slow", "set_registered_model_alias", 2, version, uri, audit_log) for version in ("2", "3")]
    outputs = [process.communicate(timeout=180)[0] for process in promotions]
    assert [process.returncode for process in promotions] == [0, 0], outputs
    first, second = [r for r in read_records(audit_log) if r["event"] == "alias moved"][1:]
    assert second["previous"] == first["version"]  # the second saw the first's move: one after the other
    assert {first["version"], second["version"]} == {"2", "3"}
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == second["version"]
    assert verify(audit_log) == []


def test_a_registry_lock_held_past_the_timeout_stops_the_move_whatever_its_audit_log(store, tmp_path):
    """One lock per registered model: a promotion that writes to another audit log still waits for it."""
    from forgeml.errors import RegistryBusy
    from forgeml.registry.moves import promote, registry_lock

    client, uri, audit_log = store
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, mlflow\n"
                               "from forgeml.registry.moves import registry_lock\n"
                               "mlflow.set_registry_uri(sys.argv[1])\n"
                               "with registry_lock(sys.argv[2]):\n print('held', flush=True); time.sleep(60)",
                               uri, MODEL], cwd=REPO, env=project_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RegistryBusy, match=rf"of 'm' \(pid {holder.pid}, since .*\) held its registry lock "
                                               r".* nothing was moved"):
            promote(MODEL, "3", "champion", "impatient", tmp_path / "elsewhere/audit.jsonl", lock_timeout_s=1)
        with registry_lock("another_model", timeout_s=1):  # other models' moves do not wait
            pass
    finally:
        holder.kill()
        holder.wait()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert not (tmp_path / "elsewhere").exists()
    with registry_lock(MODEL, timeout_s=5):  # the OS released the killed holder's lock
        pass


def test_a_tracking_server_stopped_during_a_release_stops_it_and_the_log_says_why(store, monkeypatch, tmp_path):
    import mlflow

    from forgeml.errors import RegistryError
    from forgeml.pipelines.release.nodes import promote_challenger
    from tests.helpers import free_port, serving

    client, uri, audit_log = store
    port = free_port()
    command = ["mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with serving(command, tmp_path, f"http://127.0.0.1:{port}/health") as server:
        mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
        mlflow.set_registry_uri(f"http://127.0.0.1:{port}")
        assert str(mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion").version) == "1"
        os.killpg(server.pid, signal.SIGKILL)  # the server stops
        server.wait()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    test = pd.DataFrame({"x": [0.0, 1.0], "y": [0, 1]})
    params = {"primary_metric": "accuracy", "min_improvement": 0.0, "significance": 1.0, "constraints": {},
              "audit_log": str(audit_log), "lock_timeout_s": 5}
    with pytest.raises(RegistryError, match="no alias was moved"):
        promote_challenger({"c": {"version": "3"}}, choice_of("c"), test, {"name": MODEL, "target": "y"}, params)
    stopped = read_records(audit_log)[-1]
    assert stopped["event"] == "release stopped" and stopped["outcome"] == "no alias was moved"
    assert "Connection" in stopped["reason"] or "connect" in stopped["reason"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert verify(audit_log) == []


def choice_of(candidate: str) -> dict:
    """forgeml.registry.promotion's choice of the only, eligible, candidate."""
    from forgeml.registry.promotion import choose_challenger

    choice = choose_challenger({candidate: 1.0}, {candidate: 1.0}, {candidate: np.ones(2, bool)}, {})
    return {"primary_metric": "accuracy", **choice}


def audit_verify(uri, audit_log):
    """`forgeml audit verify` in this process (tests/registry/test_audit.py runs the command itself)."""
    return forgeml("audit", "verify", uri=uri, audit_log=audit_log)


def test_records_cut_off_the_end_or_a_log_rewritten_whole_are_found_against_the_registry(store, tmp_path):
    from forgeml.registry.audit import append_records

    client, uri, audit_log = store
    assert forgeml("promote", "--version", "2", "--reason", "second", uri=uri, audit_log=audit_log).exit_code == 0
    intact = audit_verify(uri, audit_log)
    assert intact.exit_code == 0 and "matches the registry's anchor (2 records)" in intact.stdout
    good = audit_log.read_text()

    audit_log.write_text(good.splitlines(keepends=True)[0])  # the last record cut off: the chain alone still holds
    assert verify(audit_log) == []
    cut = audit_verify(uri, audit_log)
    assert cut.exit_code == 1 and "the log has 1 records, but the registry anchored 2" in cut.stderr
    assert "(alias moved of version 2" in cut.stderr and "is in MLflow but not in the log" in cut.stderr

    records = [json.loads(line) for line in good.splitlines()]
    records[1]["reason"] = "a nicer reason"
    audit_log.unlink()
    append_records(audit_log, records)  # edited, and the chain recomputed
    assert verify(audit_log) == []
    rewritten = audit_verify(uri, audit_log)
    assert rewritten.exit_code == 1 and "line 2: not the record the registry anchored" in rewritten.stderr


def test_a_line_that_is_not_a_record_is_named_and_stops_every_move_until_repaired(store):
    client, uri, audit_log = store
    good = audit_log.read_text()
    audit_log.write_text(good + "{this is not json\n")
    checked = audit_verify(uri, audit_log)
    assert checked.exit_code == 1 and "Line 2 of the audit log" in checked.stderr and "Traceback" not in checked.stderr

    promoted = forgeml("promote", "--version", "2", "--reason", "r", uri=uri, audit_log=audit_log)
    assert promoted.exit_code == 2 and "Line 2 of the audit log" in promoted.stderr and "No alias moves" in promoted.stderr
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert PENDING_MOVE not in client.get_registered_model(MODEL).tags  # nothing half done: nothing was started

    audit_log.write_text(good)  # repaired
    assert forgeml("promote", "--version", "2", "--reason", "r", uri=uri, audit_log=audit_log).exit_code == 0


def test_a_version_registered_without_its_hash_is_marked_by_reconcile_and_never_promoted(store, tmp_path):
    """A release killed between registering a version and recording its hash: reconcile (which every mover runs
    first) marks it for the reviewer, and a promotion by hand refuses it."""
    client, uri, audit_log = store
    torn = client.create_model_version(MODEL, str(tmp_path)).version  # registered, never tagged
    result = forgeml("reconcile", uri=uri, audit_log=audit_log)
    assert result.exit_code == 0, result.output
    marked = client.get_model_version(MODEL, torn)
    assert marked.tags[REGISTRATION] == "incomplete" and "Registration incomplete" in marked.description

    refused = forgeml("promote", "--version", str(torn), "--reason", "r", uri=uri, audit_log=audit_log)
    assert refused.exit_code == 2 and f"version {torn} of 'm' has no recorded SHA-256" in refused.output
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
