from kedro.pipeline import Pipeline, node

from forgeml.pipelines.train import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.train_candidates, ["train", "val", "tensors", "best_params", "params:experiment", "params:train"],
             ["candidates", "training_info"], name="train_candidates"),
    ])
