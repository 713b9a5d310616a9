from kedro.pipeline import Pipeline, node

from forgeml.pipelines.release import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.choose_run_challenger,
             ["evaluation", "test_predictions", "compression_info", "test", "splits_validation", "params:experiment",
              "params:release", "params:evaluate.latency_batch_sizes"],
             "challenger_choice", name="choose_run_challenger"),
        node(nodes.register_candidates,
             ["candidates", "compressed_candidates", "training_info", "compression_info", "compression_cards", "evaluation",
              "challenger_choice", "confusion_matrix_images", "robustness_images", "train", "test", "data_validation",
              "params:experiment", "params:release"],
             "registrations", name="register_candidates"),
        node(nodes.report_compression,
             ["compression_info", "metrics", "challenger_choice", "latency_environment", "params:evaluate"],
             ["compression_cards", "compression_report", "compression_pareto"], name="report_compression"),
        node(nodes.promote_challenger,
             ["registrations", "challenger_choice", "test", "params:experiment", "params:release"],
             "promotion", name="promote_challenger"),
    ])
