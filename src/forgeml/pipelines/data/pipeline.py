from kedro.pipeline import Pipeline, node

from forgeml.pipelines.data import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Validated data is persisted only after its check passes, so a failure leaves earlier data intact."""
    return Pipeline([
        node(nodes.ingest, ["source", "params:experiment"], "ingested_table", name="ingest"),
        node(nodes.check_data, ["ingested_table", "params:experiment", "params:data.validation", "params:data.duplicates"],
             ["data_validation", "data_validation_docs"], name="validate_data"),
        node(nodes.accept_data, ["ingested_table", "data_validation", "params:experiment", "params:data.duplicates"],
             "table", name="accept_data"),
        node(nodes.split, ["table", "params:experiment", "params:data.split"],
             ["unchecked_train", "unchecked_val", "unchecked_test"], name="split"),
        node(nodes.check_splits, ["unchecked_train", "unchecked_val", "unchecked_test", "params:experiment"],
             ["splits_validation", "splits_validation_docs"], name="validate_splits"),
        node(nodes.accept_splits,
             ["unchecked_train", "unchecked_val", "unchecked_test", "splits_validation", "params:experiment"],
             ["train", "val", "test", "tensors"], name="accept_splits"),
    ])
