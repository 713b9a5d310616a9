from kedro.pipeline import Pipeline, node

from forgeml.pipelines.data import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Validated data is persisted only after its check passes, so a failure leaves earlier data intact."""
    return Pipeline([
        node(nodes.ingest, ["source_table", "params:experiment"], "ingested_table", name="ingest"),
        node(nodes.check_table, ["ingested_table", "params:experiment", "params:data.validation"],
             ["table_validation", "table_validation_docs"], name="validate_table"),
        node(nodes.accept_table, ["ingested_table", "table_validation"], "table", name="accept_table"),
        node(nodes.split, ["table", "params:experiment", "params:data.split"],
             ["unchecked_train", "unchecked_val", "unchecked_test"], name="split"),
        node(nodes.check_splits, ["unchecked_train", "unchecked_val", "unchecked_test", "params:experiment"],
             ["splits_validation", "splits_validation_docs"], name="validate_splits"),
        node(nodes.accept_splits, ["unchecked_train", "unchecked_val", "unchecked_test", "splits_validation"],
             ["train", "val", "test"], name="accept_splits"),
    ])
