from kedro.pipeline import Pipeline, node

from forgeml.pipelines.release import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(nodes.register_candidates, ["candidates", "training_info", "evaluation", "train", "test", "params:experiment"],
             "registrations", name="register_candidates"),
        node(nodes.promote_challenger, ["registrations", "evaluation", "test", "params:experiment", "params:release"],
             "promotion", name="promote_challenger"),
    ])
