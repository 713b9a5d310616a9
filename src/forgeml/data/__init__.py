"""Tabular data: bundled data sets, checks on a user's table, content-hash splits, repeated inputs."""

from forgeml.data.sources import BUNDLED_DATASETS, load_bundled, prepare_table
from forgeml.data.split import split_table

__all__ = ["BUNDLED_DATASETS", "load_bundled", "prepare_table", "split_table"]
