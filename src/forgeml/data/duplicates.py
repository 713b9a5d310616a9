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
    exact duplicates (the first copy stays)."""
    chosen = check_policy(policy)
    keys = pd.Series(np.asarray(keys))
    labels = pd.Series(labels, copy=False).reset_index(drop=True)
    if not isinstance(labels.dtype, pd.CategoricalDtype):  # a categorical comes as text (split.digests_and_labels)
        labels = labels.astype(str)
    labels_per_key = labels.groupby(keys).transform("nunique")
    conflicting = labels_per_key > 1
    exact = pd.DataFrame({"key": keys, "label": labels}).duplicated()
    counts = {
        "rows": len(keys),
        "exact_duplicate_rows": int(exact.sum()),
        "conflicting_groups": int(keys[conflicting].nunique()),
        "conflicting_rows": int(conflicting.sum()),
        "policy": chosen,
    }
    keep = pd.Series(True, index=keys.index)
    if chosen["conflicting"] == "drop":
        keep &= ~conflicting
    elif chosen["conflicting"] == "majority":
        keep &= ~conflicting | _majority(keys, labels)
    dropped_for_conflicts = int((~keep).sum())
    if chosen["exact"] == "drop":
        keep &= ~exact
    counts["dropped"] = {"conflicting": dropped_for_conflicts, "exact": int((~keep).sum()) - dropped_for_conflicts}
    counts["rows_kept"] = int(keep.sum())
    return keep.to_numpy(), counts


def drops_nothing(policy: dict[str, Any]) -> bool:
    """Whether ``policy`` keeps every row whatever the data (the default): no keys need to be read to apply it."""
    return all(choice == "keep" for choice in check_policy(policy).values())


def _majority(keys: pd.Series, labels: pd.Series) -> pd.Series:
    """Rows whose label is the single most frequent one of their input's group."""
    copies = labels.groupby([keys, labels]).transform("size")  # rows with this input and this label
    is_top = copies == copies.groupby(keys).transform("max")
    top_labels = labels.where(is_top).groupby(keys).transform("nunique")
    return is_top & (top_labels == 1)


def describe(counts: dict[str, Any]) -> str:
    """One sentence for logs, cards and reports."""
    dropped = counts["dropped"]
    return (f"{counts['rows']} rows: {counts['exact_duplicate_rows']} exact duplicate rows, "
            f"{counts['conflicting_groups']} inputs with conflicting labels ({counts['conflicting_rows']} rows); "
            f"policy exact={counts['policy']['exact']}, conflicting={counts['policy']['conflicting']} dropped "
            f"{dropped['exact']} + {dropped['conflicting']} rows, kept {counts['rows_kept']}.")
