"""Repeated inputs counted, and kept or dropped by the declared policy; nothing dropped uncounted."""

from __future__ import annotations

import pandas as pd
import pytest

from forgeml.data.duplicates import resolve_duplicates
from forgeml.errors import ConfigError

# input 1: two copies labelled a and one b (conflicting); 2: two copies of a (exact); 3: a, b, b; 4: alone
TABLE = pd.DataFrame({"x": [1, 1, 1, 2, 2, 3, 3, 3, 4], "y": ["a", "a", "b", "a", "a", "a", "b", "b", "c"]})
KEYS = TABLE["x"].astype(str)


@pytest.mark.parametrize(("policy", "kept", "dropped"), [
    ({}, TABLE.to_numpy().tolist(), {"exact": 0, "conflicting": 0}),
    ({"exact": "drop"}, [[1, "a"], [1, "b"], [2, "a"], [3, "a"], [3, "b"], [4, "c"]], {"exact": 3, "conflicting": 0}),
    ({"conflicting": "drop"}, [[2, "a"], [2, "a"], [4, "c"]], {"exact": 0, "conflicting": 6}),
    ({"conflicting": "majority", "exact": "drop"}, [[1, "a"], [2, "a"], [3, "b"], [4, "c"]], {"exact": 3, "conflicting": 2}),
], ids=["keep-everything", "drop-exact", "drop-conflicting", "majority"])
def test_the_policy_keeps_what_it_says_and_counts_what_it_drops(policy, kept, dropped):
    table, counts = resolve_duplicates(TABLE, KEYS, "y", policy)
    assert table.to_numpy().tolist() == kept
    assert counts["exact_duplicate_rows"] == 3 and counts["conflicting_groups"] == 2 and counts["conflicting_rows"] == 6
    assert counts["dropped"] == dropped and counts["rows_kept"] == len(table) == counts["rows"] - sum(dropped.values())


def test_a_tie_under_majority_drops_the_group():
    tie = pd.DataFrame({"x": [1, 1, 2], "y": ["a", "b", "a"]})
    table, counts = resolve_duplicates(tie, tie["x"].astype(str), "y", {"conflicting": "majority"})
    assert table.to_numpy().tolist() == [[2, "a"]] and counts["dropped"]["conflicting"] == 2


def test_an_unknown_policy_is_named():
    with pytest.raises(ConfigError, match="data.duplicates.conflicting must be one of keep, drop, majority, not 'vote'"):
        resolve_duplicates(TABLE, KEYS, "y", {"conflicting": "vote"})


def test_digests_and_text_labels_count_as_the_keys_and_labels_do():
    from forgeml.data.duplicates import rows_to_keep
    from forgeml.data.split import digests_and_labels

    digests, labels = digests_and_labels(len(KEYS), [(KEYS.map(lambda x: f"{int(x):016x}" + "0" * 24), TABLE["y"])])
    for policy in ({}, {"exact": "drop"}, {"conflicting": "majority", "exact": "drop"}):
        keep, counts = rows_to_keep(digests, labels, policy)
        expected_keep, expected = rows_to_keep(KEYS, TABLE["y"], policy)
        assert keep.tolist() == expected_keep.tolist() and counts == expected


def test_the_first_copy_in_the_table_s_order_is_the_one_kept_wherever_the_copies_sit():
    shuffled = TABLE.sample(frac=1, random_state=3).reset_index(drop=True)
    table, counts = resolve_duplicates(shuffled, shuffled["x"].astype(str), "y", {"exact": "drop"})
    assert table.to_numpy().tolist() == shuffled.drop_duplicates().to_numpy().tolist()
    assert counts["exact_duplicate_rows"] == 3 and counts["conflicting_groups"] == 2
