"""Log a candidate as a nested MLflow run, register it, attach its card, read aliases, load verified versions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LINEAGE_PREFIX = "forgeml."
RECIPE_ARTIFACT = "recipe.json"  # how the candidate was trained: what `forgeml retrain` trains again
RECIPE_KEYS = ("model", "training", "augmentation")
MODEL_SHA256 = "forgeml.model_sha256"  # of the registered model's files, recorded at registration
ELIGIBLE = "forgeml.eligible"  # "false" on a version that breaks a release constraint (its card says which)
REGISTRATION = "forgeml.registration"  # "incomplete" on a version registered without its hash: it never loads
SERVED_MODEL_CODE = Path(__file__).with_name("served_model.py")  # what MLflow runs to load a version


def _pip_requirements(extra: tuple[str, ...] = ()) -> list[str]:
    from importlib.metadata import version

    packages = ("torch", "scikit-learn", "numpy", "pandas", "mlflow", *extra)
    return [f"{package}=={version(package).split('+')[0]}" for package in packages]


def pipeline_lineage() -> tuple[dict[str, str], str | None]:
    """The active (pipeline) run's ``forgeml.*`` tags (commit, data hashes, env) and its id: what every
    candidate run and version inherits."""
    import mlflow

    parent = mlflow.active_run()
    if parent is None:
        return {}, None
    tags = mlflow.MlflowClient().get_run(parent.info.run_id).data.tags
    return {key: value for key, value in tags.items() if key.startswith(LINEAGE_PREFIX)}, parent.info.run_id


def _log_picture(picture, artifact: str) -> None:
    """A matplotlib figure (drawn in this process) or an image (a PNG another stage wrote)."""
    import mlflow

    if hasattr(picture, "savefig"):
        mlflow.log_figure(picture, artifact)
    else:
        mlflow.log_image(picture, artifact)


def log_candidate(
    name: str, classifier, training: dict[str, Any], metrics: dict[str, float], example: pd.DataFrame, modality,
    lineage: dict[str, str], pictures: dict[str, Any], texts: dict[str, str],
) -> tuple[str, str]:
    """Log ``name`` in a run nested under the active run; return the run's id and the logged model's URI.

    The run holds the candidate's parameters, test metrics, epoch curves, ``pictures`` (artifact file name ->
    a figure or an image: the evaluate stage's plots), ``texts`` (artifact file name -> text), its recipe (what
    `forgeml retrain` trains again) and the model, as ``modality`` (forgeml.modality) serves it: ``example``
    rows of raw inputs in, labels out. A compressed candidate also gets its compression settings as
    parameters and its method as a tag.
    """
    import tempfile

    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.entities import Metric
    from mlflow.models import infer_signature

    import forgeml
    from forgeml.models.files import save_classifier
    from forgeml.registry.pyfunc import CLASSIFIER_ARTIFACT

    client = mlflow.MlflowClient()
    with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as run:
        compression = training.get("compression") or {}
        mlflow.set_tags({**lineage, "forgeml.candidate": name, "forgeml.family": training.get("family", ""),
                         **({"forgeml.compression.method": compression["method"],
                             "forgeml.compression.base": compression["base"]} if compression else {})})
        if compression:
            mlflow.log_params({f"compression.{k}": v for k, v in compression["settings"].items()})
        model_options = {f"model.{k}": v for k, v in (training.get("model") or {}).items() if k != "family"}
        augmentation = {f"augmentation.{k}": v for k, v in (training.get("augmentation") or {}).items()}
        mlflow.log_params({"family": training.get("family"), **training.get("training", {}), **model_options, **augmentation})
        mlflow.log_metrics({f"test_{key}": value for key, value in metrics.items()})
        mlflow.log_metrics({key: training[key] for key in ("parameters", "flops", "train_seconds") if key in training})
        history = training.get("history") or {}
        now = int(datetime.now(timezone.utc).timestamp() * 1000)
        epoch_metrics = [Metric(key, float(v), now, step) for key, values in history.items() for step, v in enumerate(values)]
        for start in range(0, len(epoch_metrics), 1000):  # one call per 1,000 points, not one per point
            client.log_batch(run.info.run_id, metrics=epoch_metrics[start : start + 1000])
        for artifact, picture in pictures.items():
            _log_picture(picture, artifact)
        for artifact, text in texts.items():
            mlflow.log_text(text, artifact)
        mlflow.log_dict(recipe_of(training), RECIPE_ARTIFACT)
        plt.close("all")  # logged; keeps memory flat over many candidates
        wrapped = modality.serving_model(classifier, example)
        with tempfile.TemporaryDirectory() as folder:
            files = Path(folder) / CLASSIFIER_ARTIFACT
            save_classifier(classifier, files, program_example=wrapped.inputs(example))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=SERVED_MODEL_CODE,  # a model from code: nothing of it is pickled
                artifacts={CLASSIFIER_ARTIFACT: str(files)},
                model_config=wrapped.settings(),
                # Outputs only (ClassifierModel checks inputs), typed by the classes. No prediction and no input
                # example here: MLflow would load and run the version on it, and an INT8 version compiles to do
                # so (a BERT 35 s on 2 cores). The model card shows a request; the gate serves the challenger from
                # its registered files.
                signature=infer_signature(None, np.asarray(classifier.classes_)),
                pip_requirements=_pip_requirements(modality.pip_requirements),
                code_paths=[str(Path(forgeml.__file__).parent)],
            )
    return run.info.run_id, info.model_uri


def recipe_of(training: dict[str, Any]) -> dict[str, Any]:
    """What retraining repeats: the model, training and augmentation settings, and for a compressed candidate
    those of its base plus the compression method and settings (``compression``)."""
    recipe = {key: training.get(key) for key in RECIPE_KEYS}
    compression = training.get("compression")
    if compression:
        recipe.update(model=compression.get("base_model", recipe["model"]), compression=compression["settings"])
    return recipe


def files_sha256(folder: Path) -> str:
    """One SHA-256 over every file below ``folder``, relative paths and contents in a fixed order; less the
    registry's own bookkeeping (``registered_model_meta``, which MLflow writes when a version is registered)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != "registered_model_meta"):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def register_candidate(registered_model: str, model_uri: str, name: str, lineage: dict[str, str]) -> str:
    """Register the logged model as a new version of ``registered_model``, tagged with its candidate, its
    lineage and the SHA-256 of its files (``load_verified`` checks it before anything loads the version)."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        sha256 = files_sha256(Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder)))
    version = str(mlflow.register_model(model_uri, registered_model).version)
    client = mlflow.MlflowClient()
    for key, value in {"forgeml.candidate": name, MODEL_SHA256: sha256, **lineage}.items():
        client.set_model_version_tag(registered_model, version, key, value)
    if REGISTRATION in client.get_model_version(registered_model, version).tags:
        # marked by a reconcile that ran (another mover's) between the registration and its hash
        client.delete_model_version_tag(registered_model, version, REGISTRATION)
    return version


def load_verified(registered_model: str, version: str, folder: Path):
    """Version ``version`` as a pyfunc, loaded from a copy in ``folder`` whose files match the SHA-256 recorded
    at registration. A mismatch, or no recorded SHA-256 at all (a release that died between registering the
    version and tagging it, or a deleted tag), is a RegistryError naming the version: what is checked is what
    is loaded, and what cannot be checked is not loaded."""
    import mlflow

    from forgeml.errors import RegistryError

    expected = mlflow.MlflowClient().get_model_version(registered_model, version).tags.get(MODEL_SHA256)
    if expected is None:
        raise RegistryError(
            f"Version {version} of {registered_model!r} has no recorded SHA-256 (tag {MODEL_SHA256}), so its files "
            "cannot be verified and it is not loaded. A release that stopped between registering it and tagging it "
            "leaves such a version: register the candidate again (`make run`), or point the alias at a verified "
            "version (`forgeml rollback` or `forgeml promote`)."
        )
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{registered_model}/{version}", dst_path=str(folder)))
    actual = files_sha256(local)
    if actual != expected:
        raise RegistryError(
            f"Version {version} of {registered_model!r}: its files changed since it was registered (SHA-256 "
            f"{actual[:16]}..., recorded {expected[:16]}...). It is not loaded; restore its files or register it again."
        )
    return mlflow.pyfunc.load_model(str(local))


def unverifiable(client, registered_model: str, version: str) -> str | None:
    """Why ``version`` cannot be verified (and so never loads), or None when it can: it has its recorded hash."""
    if MODEL_SHA256 in client.get_model_version(registered_model, version).tags:
        return None
    return (f"version {version} of {registered_model!r} has no recorded SHA-256 (a release stopped between "
            "registering it and recording its hash), so it is never loaded")


def mark_incomplete_registrations(registered_model: str) -> list[str]:
    """Tag every version registered without its hash ``forgeml.registration: incomplete``, with why, where a
    reviewer in the MLflow UI sees it; return the versions newly marked. Such a version is never loaded
    (``load_verified``) nor made champion by hand (``forgeml promote``): register the candidate again."""
    import mlflow

    client, marked = mlflow.MlflowClient(), []
    for found in client.search_model_versions(f"name = '{registered_model}'"):
        if MODEL_SHA256 not in found.tags and REGISTRATION not in found.tags:
            client.set_model_version_tag(registered_model, found.version, REGISTRATION, "incomplete")
            client.update_model_version(registered_model, found.version, description=(
                "**Registration incomplete**: the release stopped before recording this version's SHA-256, so its "
                "files cannot be verified and it is never loaded. Register the candidate again (`make run`)."))
            marked.append(str(found.version))
    return marked


def attach_card(registered_model: str, version: str, run_id: str, card: str) -> None:
    """The model card as the version's description (the MLflow UI shows it) and as ``model_card.md`` in its run."""
    import mlflow

    client = mlflow.MlflowClient()
    client.log_text(run_id, card, "model_card.md")
    client.update_model_version(registered_model, version, description=card)


def alias_version(registered_model: str, alias: str) -> str | None:
    """The version ``alias`` points at; None only when the store says the model has no such alias (or is not
    registered). Any other store error (a locked database, a server that is down) raises RegistryError: a
    registry that cannot be read must never pass for "no champion yet", which would skip the gate."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    from forgeml.errors import RegistryError

    try:
        aliases = mlflow.MlflowClient().get_registered_model(registered_model).aliases
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise RegistryError(f"The model registry could not be read ({error.error_code}: {error.message}); "
                            f"the {alias!r} alias of {registered_model!r} is unknown, so nothing was moved.") from error
    except Exception as error:  # the store's own driver errors (sqlite3, HTTP) reach here unwrapped
        raise RegistryError(f"The model registry could not be read ({type(error).__name__}: {error}); "
                            f"the {alias!r} alias of {registered_model!r} is unknown, so nothing was moved.") from error
    version = aliases.get(alias)
    return None if version is None else str(version)


def champion_version(registered_model: str) -> str | None:
    return alias_version(registered_model, "champion")


def predict_with_version(registered_model: str, version: str, features: pd.DataFrame) -> np.ndarray:
    """The version's predictions, once its files are verified."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return np.asarray(load_verified(registered_model, version, Path(folder)).predict(features))


def existing_version(client, registered_model: str, version: str) -> str:
    """``version`` if the registered model has it; else a ConfigError listing the versions it has."""
    from mlflow.exceptions import MlflowException

    from forgeml.errors import ConfigError

    try:
        return str(client.get_model_version(registered_model, str(version)).version)
    except MlflowException:
        known = sorted((str(v.version) for v in client.search_model_versions(f"name = '{registered_model}'")), key=int)
        raise ConfigError(
            f"Registered model {registered_model!r} has no version {version}"
            + (f"; its versions: {', '.join(known)}." if known else " (no such registered model, or no versions).")
        ) from None


def champion_recipe(registered_model: str) -> tuple[str, dict[str, Any]]:
    """The champion's version and recipe (``recipe_of``: model, training, augmentation and compression settings)."""
    import mlflow

    from forgeml.errors import ConfigError

    version = champion_version(registered_model)
    if version is None:
        raise ConfigError(f"Registered model {registered_model!r} has no champion yet: run `make run` first.")
    run_id = mlflow.MlflowClient().get_model_version(registered_model, version).run_id
    return version, mlflow.artifacts.load_dict(f"runs:/{run_id}/{RECIPE_ARTIFACT}")


def tag_active_run(tags: dict[str, Any]) -> None:
    """Record ``tags`` on the pipeline's run, where a reviewer auditing it in the UI looks first."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.set_tags({key: str(value) for key, value in tags.items()})
