from kedro.pipeline import Pipeline, node

from forgeml.pipelines.compress import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.compress_candidates,
             ["candidates", "training_info", "train", "val", "tensors", "params:experiment", "params:train",
              "params:compress"],
             ["compressed_candidates", "compression_info"], name="compress_candidates"),
    ])
