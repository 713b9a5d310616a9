"""Alias moves a crash cannot leave half done: intent, move, done; one lock for everything that moves an alias.

A move (a release's ``challenger`` and ``champion``, a promotion or rollback by hand) is decided and planned
in full first: each alias, the version it goes to, the tags that version gets (who, when, why, by which rule,
from which version), and the audit records. Then, under the registry lock:

1. intent: the plan is written as the registered model's tag ``forgeml.pending_move``, in the same store as
   the aliases, so every process and machine sharing the store sees it;
2. move: each alias is set and its version tagged;
3. record: the audit records are appended to the log (records already there, from an attempt that was
   interrupted, are not appended twice), each one reaches the MLflow UI as a tag on its version, and the log's
   head (its record count and last hash) is anchored as the registered model's tag ``forgeml.audit_head``, so
   ``forgeml audit verify`` finds records cut off the end or a log rewritten whole;
4. done: the intent is deleted.

A move starts only on a log whose every line is a record: otherwise nothing is written (AuditLogError).

Each step gives the same result when run again, so ``reconcile`` completes any intent it finds. It never
undoes one: the decision (by the gate, or by a person) was taken and written whole before anything moved,
so completing it is what was decided; a crash before the intent was written moved nothing. The champion is
therefore the old version or the new one, never none, and no alias moves that the gate or a person did not
decide. Release, retrain, promote and rollback reconcile first, under the lock.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from forgeml.locks import exclusive_lock
from forgeml.registry.audit import append_records, read_records

PENDING_MOVE = "forgeml.pending_move"
AUDIT_HEAD = "forgeml.audit_head"  # {"count", "hash"} of the audit log after the last alias move
AUDIT_TAG = "forgeml.audit."  # + the record's hash prefix: each audit record, on the version it concerns
MOVE_TAG_KEYS = ("by", "at", "rule", "reason", "previous")
DEFAULT_LOCK_TIMEOUT_S = 600.0


SQLITE = "sqlite:///"


def registry_lock_path(model: str, registry_uri: str) -> Path:
    """The lock of registered model ``model`` in the registry at ``registry_uri``: one per model, whatever audit
    log a mover writes to. Beside an SQLite store's file (every process that opens the store shares it); for
    a server or PostgreSQL, in this user's cache, named by the store's address."""
    if registry_uri.startswith(SQLITE):
        return Path(registry_uri.removeprefix(SQLITE)).resolve().parent / "registry-locks" / f"{model}.lock"
    store = hashlib.sha256(registry_uri.encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "forgeml" / "registry-locks" / store / f"{model}.lock"


@contextmanager
def registry_lock(model: str, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold registered model ``model``'s lock (in the registry MLflow is set to), waiting at most ``timeout_s``;
    a RegistryBusy error past it (forgeml.locks: released when its holder exits, even by SIGKILL)."""
    import mlflow

    from forgeml.errors import RegistryBusy

    path = registry_lock_path(model, mlflow.get_registry_uri())

    def busy(holder: str) -> RegistryBusy:
        return RegistryBusy(f"Another release, retrain, promotion or rollback of {model!r} ({holder}) held its registry "
                            f"lock {path} for more than {timeout_s:g} s; nothing was moved. Try again once it is done.")

    with exclusive_lock(path, timeout_s, busy):
        yield


def actor(name: str | None = None) -> str:
    return name or f"{getpass.getuser()} (forgeml pipeline)"


def plan_move(model: str, alias: str, version: str, previous: str | None, reason: str, rule: str,
              by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The move of ``alias`` to ``version`` (with the tags its version gets) and its audit record."""
    record = {
        "event": "alias moved", "model": model, "alias": alias, "version": str(version), "previous": previous,
        "by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rule": rule, "reason": reason,
    }
    tags = {f"forgeml.{alias}.{key}": str(record[key]) for key in MOVE_TAG_KEYS}
    return {"alias": alias, "version": str(version), "tags": tags}, record


def carry_out(model: str, moves: list[dict[str, Any]], records: list[dict[str, Any]], audit_log: Path) -> list[dict[str, Any]]:
    """Write the intent, then complete it (the caller holds the registry lock). Returns the records as logged."""
    import mlflow

    read_records(audit_log)  # a log with a broken line stops the move before anything is written
    move_id = uuid.uuid4().hex
    plan = {"id": move_id, "moves": moves,
            "records": [{**record, "move": move_id, "step": step} for step, record in enumerate(records)]}
    mlflow.MlflowClient().set_registered_model_tag(model, PENDING_MOVE, json.dumps(plan))
    return _complete(model, plan, audit_log)


def _complete(model: str, plan: dict[str, Any], audit_log: Path) -> list[dict[str, Any]]:
    """Steps 2-4 of the module's docstring: each safe to run again after a crash."""
    import mlflow

    client = mlflow.MlflowClient()
    for move in plan["moves"]:
        client.set_registered_model_alias(model, move["alias"], move["version"])
        for key, value in move["tags"].items():
            client.set_model_version_tag(model, move["version"], key, value)
    logged = {record["step"] for record in read_records(audit_log) if record.get("move") == plan["id"]}
    append_records(audit_log, [record for record in plan["records"] if record["step"] not in logged])
    log = read_records(audit_log)
    written = [record for record in log if record.get("move") == plan["id"]]
    for record in written:
        show_in_mlflow(model, record)
    client.set_registered_model_tag(model, AUDIT_HEAD, json.dumps({"count": len(log), "hash": log[-1]["hash"]}))
    client.delete_registered_model_tag(model, PENDING_MOVE)
    return written


def show_in_mlflow(model: str, record: dict[str, Any]) -> None:
    """An audit record as a tag on the version it concerns (the registered model when none), where a reviewer
    in the MLflow UI finds it; keyed by its hash, so the tag and the log line are matched one to one."""
    import mlflow

    client, key, value = mlflow.MlflowClient(), f"{AUDIT_TAG}{record['hash'][:16]}", json.dumps(record, sort_keys=True)
    if record.get("version"):
        client.set_model_version_tag(model, record["version"], key, value)
    else:
        client.set_registered_model_tag(model, key, value)


def _model_tags(model: str) -> dict[str, str] | None:
    """The registered model's tags; None when ``model`` is not registered (yet)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        return dict(mlflow.MlflowClient().get_registered_model(model).tags)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def registry_copy(model: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """What the registry holds of ``model``'s audit log: the anchored head (None before the first move, or
    before the model is registered), and every record mirrored as a tag on its versions or on the model."""
    import mlflow

    tags = _model_tags(model)
    if tags is None:
        return None, []
    for version in mlflow.MlflowClient().search_model_versions(f"name = '{model}'"):
        tags.update({f"{key}@{version.version}": value for key, value in version.tags.items()})
    mirrored = [json.loads(value) for key, value in tags.items() if key.startswith(AUDIT_TAG)]
    return (json.loads(tags[AUDIT_HEAD]) if AUDIT_HEAD in tags else None), mirrored


def pending_move(model: str) -> dict[str, Any] | None:
    """The intent a crash left behind, if any."""
    tags = _model_tags(model) or {}
    return json.loads(tags[PENDING_MOVE]) if PENDING_MOVE in tags else None


def reconcile(model: str, audit_log: Path) -> dict[str, Any] | None:
    """Complete the move a crash left half done (the caller holds the registry lock), and mark the versions a
    crash left registered without their hash (forgeml.registry.tracking.mark_incomplete_registrations); the
    plan, or None when nothing was pending."""
    from forgeml.registry.tracking import mark_incomplete_registrations

    mark_incomplete_registrations(model)
    plan = pending_move(model)
    if plan is not None:
        _complete(model, plan, audit_log)
    return plan


def promote(model: str, version: str, alias: str, reason: str, audit_log: Path, by: str | None = None,
            rule: str = "manual", lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> dict[str, Any]:
    """Point ``alias`` at ``version`` by hand (no gate; the record says ``manual``); returns the audit record."""
    import mlflow

    from forgeml.errors import RegistryError
    from forgeml.registry.tracking import alias_version, existing_version, unverifiable

    with registry_lock(model, lock_timeout_s):
        reconcile(model, audit_log)
        version = existing_version(mlflow.MlflowClient(), model, version)
        refused = unverifiable(mlflow.MlflowClient(), model, version)
        if refused:
            raise RegistryError(f"Not moved: {refused}. Register the candidate again (`make run`), or pick a "
                                "verified version.")
        move, record = plan_move(model, alias, version, alias_version(model, alias), reason, rule, actor(by))
        return carry_out(model, [move], [record], audit_log)[-1]


def rollback(model: str, reason: str, audit_log: Path, by: str | None = None, alias: str = "champion",
             lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> dict[str, Any]:
    """Point ``alias`` back at the version it pointed at before its last move (a second rollback undoes the first)."""
    import mlflow

    from forgeml.errors import ConfigError
    from forgeml.registry.tracking import alias_version

    with registry_lock(model, lock_timeout_s):
        reconcile(model, audit_log)
        current = alias_version(model, alias)
        if current is None:
            raise ConfigError(f"Registered model {model!r} has no {alias!r} alias to roll back.")
        previous = mlflow.MlflowClient().get_model_version(model, current).tags.get(f"forgeml.{alias}.previous")
        if previous in (None, "None"):
            raise ConfigError(f"Version {current} of {model!r} was the first {alias}: there is nothing to roll back to.")
        move, record = plan_move(model, alias, previous, current, reason, "rollback", actor(by))
        return carry_out(model, [move], [record], audit_log)[-1]
