from kedro.pipeline import Pipeline, node

from forgeml.pipelines.train import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.train_candidates, ["train", "val", "best_params", "params:experiment", "params:train"],
             ["candidates", "training_info"], name="train_candidates"),
    ])


def create_text_pipeline(**kwargs) -> Pipeline:
    """The train stage of a text experiment: no tuning study, tokens instead of feature columns."""
    return Pipeline([
        node(nodes.train_text_candidates, ["train", "val", "tokens", "params:experiment", "params:train"],
             ["candidates", "training_info"], name="train_text_candidates"),
    ])
