from kedro.pipeline import Pipeline, node

from forgeml.pipelines import data
from forgeml.pipelines.release import nodes as release_nodes
from forgeml.pipelines.retrain import nodes

PARAMETERS = {"params:experiment", "params:data.split", "params:data.duplicates", "params:data.validation",
              "params:train", "params:compress", "params:evaluate", "params:evaluate.latency_batch_sizes",
              "params:release"}


def create_pipeline(**kwargs) -> Pipeline:
    """The data pipeline on the current raw data, the champion's recipe trained on its splits, then the
    evaluate and release steps for that one challenger. Everything between the raw data and the decision
    lives under the ``retrain`` namespace: its table, splits and tensors in ``retrain/`` folders of their own (written
    a batch at a time, as the data stage's), the rest in memory (validation reports aside), so the last full run's
    splits and candidates stay as they are, and kedro-airflow can run it as one task."""
    steps = data.create_pipeline() + Pipeline([
        node(nodes.retrain_champion_recipe,
             ["train", "val", "tensors", "params:experiment", "params:train", "params:compress"],
             ["candidates", "training_info"], name="retrain_champion_recipe"),
        node(nodes.evaluate_retrained, ["candidates", "test", "params:experiment", "params:evaluate"],
             ["evaluation", "test_predictions", "confusion_matrices", "robustness_curves"], name="evaluate_retrained"),
        node(nodes.choose_retrained,
             ["evaluation", "test_predictions", "test", "splits_validation", "params:experiment", "params:release",
              "params:evaluate.latency_batch_sizes"],
             "challenger_choice", name="choose_retrained"),
        node(nodes.register_retrained,
             ["candidates", "training_info", "evaluation", "challenger_choice", "confusion_matrices", "robustness_curves",
              "train", "test", "data_validation", "params:experiment", "params:release"],
             "registrations", name="register_retrained"),
        node(release_nodes.promote_challenger,
             ["registrations", "challenger_choice", "test", "params:experiment", "params:release"],
             "retrain_promotion", name="promote_challenger"),
    ])
    return Pipeline(steps, namespace="retrain", inputs={"source"}, outputs={"retrain_promotion"},
                    parameters=PARAMETERS)
