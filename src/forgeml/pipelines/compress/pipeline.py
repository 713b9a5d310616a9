from kedro.pipeline import Pipeline, node

from forgeml.pipelines.compress import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.compress_candidates,
             ["candidates", "training_info", "train", "val", "params:experiment", "params:train", "params:compress"],
             ["compressed_candidates", "compression_info"], name="compress_candidates"),
    ])


def create_text_pipeline(**kwargs) -> Pipeline:
    """The compress stage of a text experiment: the BERT base takes the persisted tokens."""
    return Pipeline([
        node(nodes.compress_text_candidates,
             ["candidates", "training_info", "train", "val", "tokens", "params:experiment", "params:train",
              "params:compress"],
             ["compressed_candidates", "compression_info"], name="compress_text_candidates"),
    ])
