from kedro.pipeline import Pipeline, node

from forgeml.pipelines.evaluate import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.evaluate_candidates,
             ["candidates", "compressed_candidates", "compression_info", "test", "params:experiment", "params:evaluate"],
             ["evaluation", "test_predictions", "metrics", "confusion_matrices", "robustness_curves", "latency_environment"],
             name="evaluate_candidates"),
    ])
