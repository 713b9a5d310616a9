from kedro.pipeline import Pipeline, node

from forgeml.pipelines.data.pipeline import split_pipeline
from forgeml.pipelines.images import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Like the table pipeline, but every image file is checked before its pixels become the table."""
    return Pipeline([
        node(nodes.ingest_images, ["source_images", "params:experiment"], ["ingested_table", "image_manifest"],
             name="ingest_images"),
        node(nodes.check_images, ["image_manifest", "params:experiment", "params:data.validation"],
             ["images_validation", "images_validation_docs"], name="validate_images"),
        node(nodes.accept_images, ["ingested_table", "images_validation", "params:experiment"], "table",
             name="accept_images"),
    ]) + split_pipeline()
