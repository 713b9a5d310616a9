from kedro.pipeline import Pipeline, node

from forgeml.pipelines.tune import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.tune, ["train", "val", "tensors", "params:experiment", "params:train", "params:tune"],
             ["best_params", "tuning_plots"], name="tune"),
    ])
