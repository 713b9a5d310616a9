"""Ingest, validate, split and turn into tensors: nothing reaches training unless every expectation holds.

The experiment's modality (forgeml.modality) says how its raw data is read and what its suite checks:
a table's rows, an image folder's files, a text table's texts. Tables pass between these nodes as ``Batches``
(forgeml.data.batches), read a batch at a time: only keys, labels and masks are ever whole in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forgeml.data.batches import ArrayBatches, Batches
from forgeml.data.duplicates import drops_nothing, rows_to_keep
from forgeml.data.split import DigestsAndLabels, joined_labels, labels_as_text, split_masks, split_positions
from forgeml.modality import modality_of
from forgeml.validation import add_duplicate_counts, check_passed, suite_for, validate_splits


def ingest(source, experiment: dict[str, Any]) -> Batches:
    return modality_of(experiment).ingest(source)


def check_data(table: Batches, experiment: dict[str, Any], validation: dict[str, Any],
               duplicates: dict[str, Any]) -> tuple[dict, str]:
    """The suite's report and Data Docs, with the table's repeated inputs counted (and what the policy drops)."""
    modality = modality_of(experiment)
    rows = DigestsAndLabels(table.rows)

    def noting_keys(pieces):  # the keys come from the pieces the suite checks: one read (one decode of images)
        for piece in pieces:
            rows.add(modality.input_keys(piece), piece[modality.target])
            yield piece

    report, html = modality.validate(noting_keys(modality.checked(table)), suite_for(experiment, validation))
    _, counts = rows_to_keep(*rows.joined(), duplicates)
    return add_duplicate_counts(report, html, counts)


def accept_data(table: Batches, report: dict, experiment: dict[str, Any], duplicates: dict[str, Any]) -> Batches:
    """The table, once its check passed, as the duplicates policy leaves it."""
    check_passed(report, experiment["name"], "data")
    if drops_nothing(duplicates):
        return table
    return table.where(rows_to_keep(*modality_of(experiment).digests_and_labels(table), duplicates)[0])


def split(table: Batches, experiment: dict[str, Any], params: dict[str, Any]) -> tuple[Batches, Batches, Batches]:
    """Each row's split follows from its input's hash (forgeml.data.split): identical inputs share one."""
    positions, labels = [], []
    for keys, batch_labels in modality_of(experiment).keys_by_batch(table):
        positions.append(split_positions(keys, params["seed"]))
        labels.append(labels_as_text(batch_labels))
    masks = split_masks(np.concatenate(positions), joined_labels(labels), params["test_size"], params["val_size"])
    return tuple(table.where(mask) for mask in masks)


def check_splits(train: Batches, val: Batches, test: Batches, experiment: dict[str, Any]):
    modality = modality_of(experiment)
    splits = {"train": train, "val": val, "test": test}
    return validate_splits({name: modality.digests_and_labels(split)[0] for name, split in splits.items()})


def accept_splits(train: Batches, val: Batches, test: Batches, report: dict,
                  experiment: dict[str, Any]) -> tuple[Batches, Batches, Batches, dict[str, ArrayBatches]]:
    """The splits, once their check passed, and each as the models' input arrays (features, 8-bit pixels as
    images, or token ids and masks): made once and persisted, so no training run tokenizes or reshapes again."""
    check_passed(report, experiment["name"], "splits")
    modality = modality_of(experiment)
    splits = {"train": train, "val": val, "test": test}
    return train, val, test, {name: split.arrays(modality.kept_tensor) for name, split in splits.items()}
