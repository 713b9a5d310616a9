from kedro.pipeline import Pipeline, node

from forgeml.pipelines.evaluate import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.evaluate_candidates, ["candidates", "test", "params:experiment", "params:evaluate"],
             ["evaluation", "metrics", "confusion_matrices", "robustness_curves"], name="evaluate_candidates"),
    ])
