"""Repeated inputs, as real tables and texts have them: counted, and kept or dropped by a declared policy.

Two rows are the same input when their content keys match (forgeml.data.split.content_keys: what the model
sees). Copies of an input with the same label are exact duplicates; an input seen with more than one label is
a conflicting group. The default policy keeps every row (the content split keeps each group in one split,
so nothing leaks), and whatever a policy drops is counted: nothing is removed silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError

POLICIES = {"exact": ("keep", "drop"), "conflicting": ("keep", "drop", "majority")}


def check_policy(policy: dict[str, Any]) -> dict[str, str]:
    """The policy with its defaults (keep both); a ConfigError naming a setting that is not one of its choices."""
    chosen = {"exact": "keep", "conflicting": "keep", **(policy or {})}
    for setting, choices in POLICIES.items():
        if chosen[setting] not in choices:
            raise ConfigError(f"data.duplicates.{setting} must be one of {', '.join(choices)}, not {chosen[setting]!r}.")
    unknown = sorted(set(chosen) - set(POLICIES))
    if unknown:
        raise ConfigError(f"data.duplicates has no setting {', '.join(unknown)}; its settings: {', '.join(POLICIES)}.")
    return chosen


def resolve_duplicates(
    table: pd.DataFrame, keys: pd.Series, target: str, policy: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table as ``policy`` leaves it (``rows_to_keep``), and the counts."""
    keep, counts = rows_to_keep(keys, table[target], policy)
    kept = table if keep.all() else table[keep]  # the default policy keeps every row: no copy of a large table
    return kept.reset_index(drop=True), counts


def rows_to_keep(keys, labels: pd.Series, policy: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Which rows ``policy`` keeps, given each row's content key (or its digest) and label, and the counts: rows, exact
    duplicates, conflicting groups and their rows, and what the policy dropped. Conflicts are resolved first
    (``majority`` keeps the rows of a group's most frequent label and drops a group whose top labels tie), then
    exact duplicates (the first copy stays).

    Only inputs seen more than once can be either, so only their rows are sorted by key and label (``_decide``):
    a table of distinct rows costs a sorted copy of its keys, which lets millions of rows be counted in a fixed
    budget (benchmarks/scale.py)."""
    chosen = check_policy(policy)
    key_ids, label_ids = _ids(keys), _ids(labels)
    repeated = np.flatnonzero(_repeated(key_ids))
    decided, counts = _decide(key_ids[repeated], label_ids[repeated], chosen)
    keep = np.ones(len(key_ids), bool)
    keep[repeated] = decided
    return keep, {"rows": len(key_ids), **counts, "rows_kept": int(keep.sum())}


def _repeated(ids: np.ndarray) -> np.ndarray:
    """Whether each row's id is another row's too."""
    ordered = np.sort(ids)
    seen_twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    return pd.Series(ids, copy=False).isin(seen_twice).to_numpy()


def _decide(key_ids: np.ndarray, label_ids: np.ndarray, chosen: dict[str, str]) -> tuple[np.ndarray, dict[str, Any]]:
    """``rows_to_keep`` on rows given as ids, and its counts but the rows': the rows sorted by key, then label."""
    order = np.lexsort((label_ids, key_ids))  # stable: equal rows keep their order, so the first copy leads
    keys_sorted, labels_sorted = key_ids[order], label_ids[order]
    new_key = np.ones(len(order), bool)
    new_key[1:] = keys_sorted[1:] != keys_sorted[:-1]
    new_pair = new_key.copy()  # a new (input, label): its first copy
    new_pair[1:] |= labels_sorted[1:] != labels_sorted[:-1]
    group = np.cumsum(new_key) - 1  # each row's input
    mixed = np.bincount(group, weights=new_pair) > 1  # inputs seen with more than one label
    conflicting, exact = mixed[group], ~new_pair
    counts = {"exact_duplicate_rows": int(exact.sum()), "conflicting_groups": int(mixed.sum()),
              "conflicting_rows": int(conflicting.sum()), "policy": chosen}
    keep = np.ones(len(order), bool)
    if chosen["conflicting"] == "drop":
        keep &= ~conflicting
    elif chosen["conflicting"] == "majority":
        keep &= ~conflicting | _majority(group, new_key, new_pair)
    dropped_for_conflicts = int((~keep).sum())
    if chosen["exact"] == "drop":
        keep &= ~exact
    counts["dropped"] = {"conflicting": dropped_for_conflicts, "exact": int((~keep).sum()) - dropped_for_conflicts}
    in_given_order = np.empty(len(order), bool)
    in_given_order[order] = keep
    return in_given_order, counts


def _ids(values) -> np.ndarray:
    """Values as numbers that are equal where the values are: a categorical's codes (labels as text,
    forgeml.data.split.labels_as_text), 64-bit key digests as they are, anything else by its text."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        return np.asarray(pd.Series(values).cat.codes)
    array = np.asarray(values)
    return array if array.dtype == np.uint64 else pd.factorize(pd.Series(array, dtype=object).astype(str))[0]


def drops_nothing(policy: dict[str, Any]) -> bool:
    """Whether ``policy`` keeps every row whatever the data (the default): no keys need to be read to apply it."""
    return all(choice == "keep" for choice in check_policy(policy).values())


def _majority(group: np.ndarray, new_key: np.ndarray, new_pair: np.ndarray) -> np.ndarray:
    """Rows (sorted by input, then label; ``group``: their input's index) whose label is the single most frequent
    one of their input's group."""
    copies = np.bincount(np.cumsum(new_pair) - 1)[np.cumsum(new_pair) - 1]  # rows with this input and this label
    is_top = copies == np.maximum.reduceat(copies, np.flatnonzero(new_key))[group]
    top_labels = np.bincount(group, weights=is_top & new_pair)
    return is_top & (top_labels[group] == 1)


def describe(counts: dict[str, Any]) -> str:
    """One sentence for logs, cards and reports."""
    dropped = counts["dropped"]
    return (f"{counts['rows']} rows: {counts['exact_duplicate_rows']} exact duplicate rows, "
            f"{counts['conflicting_groups']} inputs with conflicting labels ({counts['conflicting_rows']} rows); "
            f"policy exact={counts['policy']['exact']}, conflicting={counts['policy']['conflicting']} dropped "
            f"{dropped['exact']} + {dropped['conflicting']} rows, kept {counts['rows_kept']}.")
