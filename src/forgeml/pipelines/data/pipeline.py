from kedro.pipeline import Pipeline, node

from forgeml.pipelines.data import nodes


def split_pipeline() -> Pipeline:
    """table -> checked train/val/test; shared by the table and the image data pipelines."""
    return Pipeline([
        node(nodes.split, ["table", "params:experiment", "params:data.split"],
             ["unchecked_train", "unchecked_val", "unchecked_test"], name="split"),
        node(nodes.check_splits, ["unchecked_train", "unchecked_val", "unchecked_test", "params:experiment"],
             ["splits_validation", "splits_validation_docs"], name="validate_splits"),
        node(nodes.accept_splits,
             ["unchecked_train", "unchecked_val", "unchecked_test", "splits_validation", "params:experiment"],
             ["train", "val", "test"], name="accept_splits"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """Validated data is persisted only after its check passes, so a failure leaves earlier data intact."""
    return Pipeline([
        node(nodes.ingest, ["source_table", "params:experiment"], "ingested_table", name="ingest"),
        node(nodes.check_table, ["ingested_table", "params:experiment", "params:data.validation"],
             ["table_validation", "table_validation_docs"], name="validate_table"),
        node(nodes.accept_table, ["ingested_table", "table_validation", "params:experiment"], "table", name="accept_table"),
    ]) + split_pipeline()
