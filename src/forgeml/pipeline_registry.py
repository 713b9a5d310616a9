"""The project's pipelines: one per DVC stage, chained by ``__default__``."""

from kedro.pipeline import Pipeline

from forgeml.pipelines import data, evaluate, release, train

PIPELINE_ORDER = ("data", "train", "evaluate", "release")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data": data.create_pipeline(),
        "train": train.create_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "release": release.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
