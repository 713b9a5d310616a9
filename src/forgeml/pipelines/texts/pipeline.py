from kedro.pipeline import Pipeline, node

from forgeml.pipelines.data import nodes as data_nodes
from forgeml.pipelines.data.pipeline import split_pipeline
from forgeml.pipelines.texts import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Texts are validated before they are kept, split and checked like any table, then tokenized once."""
    return Pipeline([
        node(nodes.ingest_texts, ["source_table", "params:experiment"], "ingested_texts", name="ingest_texts"),
        node(nodes.check_texts, ["ingested_texts", "params:experiment", "params:data.validation"],
             ["texts_validation", "texts_validation_docs"], name="validate_texts"),
        node(data_nodes.accept_table, ["ingested_texts", "texts_validation", "params:experiment"], "table",
             name="accept_texts"),
    ]) + split_pipeline() + Pipeline([
        node(nodes.tokenize_splits, ["train", "val", "test", "params:experiment"], "tokens", name="tokenize"),
    ])
