"""The project's pipelines: one per DVC stage, chained by ``__default__`` (a table experiment).

An image experiment (one with ``experiment.image`` in its parameters) runs ``images`` as its data
stage instead of ``data``; a text experiment (``experiment.text``) runs ``texts``, ``train_texts`` and
``compress_texts``, and no tuning. `make run EXPERIMENT=NAME` and the generated dvc.yaml pick them.
"""

from kedro.pipeline import Pipeline

from forgeml.pipelines import compress, data, evaluate, images, release, retrain, texts, train, tune

STAGES = ("data", "tune", "train", "compress", "evaluate", "release")


def experiment_kind(experiment: dict) -> str:
    return "image" if experiment.get("image") else "text" if experiment.get("text") else "table"


def stage_pipelines(kind: str) -> dict[str, str]:
    """DVC stage -> the pipeline it runs, for a ``table``, ``image`` or ``text`` experiment (no tuning
    study for text: one BERT fine-tuning is the budget)."""
    stages = {stage: stage for stage in STAGES if not (kind == "text" and stage == "tune")}
    stages["data"] = {"table": "data", "image": "images", "text": "texts"}[kind]
    if kind == "text":
        stages["train"], stages["compress"] = "train_texts", "compress_texts"
    return stages


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data": data.create_pipeline(),
        "images": images.create_pipeline(),
        "texts": texts.create_pipeline(),
        "train_texts": train.create_text_pipeline(),
        "tune": tune.create_pipeline(),
        "train": train.create_pipeline(),
        "compress": compress.create_pipeline(),
        "compress_texts": compress.create_text_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "release": release.create_pipeline(),
        "retrain": retrain.create_pipeline(),  # not a stage: `forgeml retrain` runs it when the raw data changes
    }
    pipelines["__default__"] = sum((pipelines[stage] for stage in STAGES), Pipeline([]))
    return pipelines
