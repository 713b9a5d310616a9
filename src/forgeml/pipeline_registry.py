"""The project's pipelines: one per DVC stage, chained by ``__default__`` (a table experiment).

An image experiment (one with ``experiment.image`` in its parameters) runs ``images`` as its data
stage instead of ``data``; `make run EXPERIMENT=NAME` and the generated dvc.yaml pick it.
"""

from kedro.pipeline import Pipeline

from forgeml.pipelines import compress, data, evaluate, images, release, retrain, texts, train, tune

STAGES = ("data", "tune", "train", "compress", "evaluate", "release")


def stage_pipelines(image_experiment: bool) -> dict[str, str]:
    """DVC stage -> the pipeline it runs."""
    return {stage: "images" if stage == "data" and image_experiment else stage for stage in STAGES}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "data": data.create_pipeline(),
        "images": images.create_pipeline(),
        "texts": texts.create_pipeline(),  # the data stage of a text experiment (training them: issue 6, under way)
        "tune": tune.create_pipeline(),
        "train": train.create_pipeline(),
        "compress": compress.create_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "release": release.create_pipeline(),
        "retrain": retrain.create_pipeline(),  # not a stage: `forgeml retrain` runs it when the raw data changes
    }
    pipelines["__default__"] = sum((pipelines[stage] for stage in STAGES), Pipeline([]))
    return pipelines
