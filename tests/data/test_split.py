"""Splits by content: seeded and disjoint, identical inputs together, appended rows never moving old ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import DataError
from forgeml.modality import TableModality, TextModality

TABLE = TableModality({"name": "breast_cancer", "target": "target"})


def row_keys(frame: pd.DataFrame) -> set[str]:
    return set(TABLE.input_keys(frame))


def test_the_split_is_seeded_disjoint_and_near_its_fractions(breast_cancer):
    train, val, test = TABLE.split(breast_cancer, 0.2, 0.15, seed=1)
    assert len(train) + len(val) + len(test) == len(breast_cancer)
    assert abs(len(test) / len(breast_cancer) - 0.2) < 0.05 and abs(len(val) / len(breast_cancer) - 0.15) < 0.05
    assert not row_keys(train) & row_keys(test) and not row_keys(train) & row_keys(val)
    pd.testing.assert_frame_equal(test, TABLE.split(breast_cancer, 0.2, 0.15, seed=1)[2])
    assert not test.equals(TABLE.split(breast_cancer, 0.2, 0.15, seed=2)[2])


def test_identical_inputs_share_a_split_whatever_their_labels(breast_cancer):
    copies = breast_cancer.head(60).assign(target=lambda frame: 1 - frame["target"])  # same inputs, other labels
    train, val, test = TABLE.split(pd.concat([breast_cancer, copies], ignore_index=True), 0.2, 0.15, seed=0)
    assert not row_keys(train) & (row_keys(val) | row_keys(test))


def test_appended_rows_never_move_an_earlier_row(breast_cancer):
    before = TABLE.split(breast_cancer.iloc[:400], 0.2, 0.15, seed=0)
    after = TABLE.split(breast_cancer, 0.2, 0.15, seed=0)
    for old, new in zip(before, after):
        assert row_keys(old) <= row_keys(new)  # each old row is in the same split as before
    assert not row_keys(before[0]) & row_keys(after[2])  # no earlier training row in the new test split


def test_texts_differing_in_case_or_blanks_are_one_input():
    texts = TextModality({"name": "t", "target": "label", "text": {"column": "text"}})
    keys = texts.input_keys(pd.DataFrame({"text": ["Great  tea!", "great tea!", " GREAT tea! ", "bad tea"]}))
    assert keys[0] == keys[1] == keys[2] != keys[3]


def test_fractions_and_missing_training_classes_are_refused(breast_cancer):
    with pytest.raises(DataError, match="add up to less than 1"):
        TABLE.split(breast_cancer, 0.6, 0.5, seed=0)
    one_b = pd.DataFrame({"x": np.arange(20.0), "target": ["a"] * 19 + ["b"]})
    outcomes = []
    for seed in range(20):  # the one `b` row lands in a held-out split for some seeds
        try:
            TABLE.split(one_b, 0.3, 0.3, seed)
            outcomes.append("trained")
        except DataError as error:
            assert "No training row of class(es) b" in str(error) and "data.split.seed" in str(error)
            outcomes.append("refused")
    assert {"trained", "refused"} <= set(outcomes)


def test_digests_are_the_keys_first_64_bits_and_labels_from_batches_of_any_type_become_one_text_column():
    from forgeml.data.split import digests_and_labels

    keys = pd.Series(["ff" * 20, "0123456789abcdef" + "0" * 24])
    digests, labels = digests_and_labels(2, [(keys[:1], pd.Series([1])), (keys[1:], pd.Series(["b"]))])
    assert digests.dtype == np.uint64 and digests.tolist() == [2**64 - 1, 0x0123456789ABCDEF]
    assert labels.tolist() == ["1", "b"] and isinstance(labels.dtype, pd.CategoricalDtype)
