"""The project's pipelines: one per DVC stage, the same six for tables, images and texts, chained by
``__default__``. What differs between kinds of data is the experiment's modality (forgeml.modality)."""

from kedro.pipeline import Pipeline

from forgeml.pipelines import compress, data, evaluate, release, retrain, train, tune

STAGES = ("data", "tune", "train", "compress", "evaluate", "release")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data": data.create_pipeline(),
        "tune": tune.create_pipeline(),
        "train": train.create_pipeline(),
        "compress": compress.create_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "release": release.create_pipeline(),
        "retrain": retrain.create_pipeline(),  # not a stage: `forgeml retrain` runs it when the raw data changes
    }
    pipelines["__default__"] = sum((pipelines[stage] for stage in STAGES), Pipeline([]))
    return pipelines
