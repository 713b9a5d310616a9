"""The promotion gate, as pure functions: which candidate challenges, and whether it beats the champion."""

from __future__ import annotations

from typing import Any


def pick_challenger(metrics: dict[str, dict[str, float]], primary_metric: str, higher_is_better: bool = True) -> str:
    """The candidate with the best primary metric; ties go to the smaller model."""
    sign = 1 if higher_is_better else -1
    return max(metrics, key=lambda name: (sign * metrics[name][primary_metric], -metrics[name]["size_bytes"]))


def decide_promotion(
    challenger_score: float,
    champion_score: float | None,
    min_improvement: float,
    primary_metric: str,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """Promote when there is no champion, or the challenger beats it by at least ``min_improvement``.

    Both scores must come from the same test split.
    """
    if champion_score is None:
        return {"promote": True, "reason": "no champion yet: the first challenger becomes champion"}
    gain = (challenger_score - champion_score) * (1 if higher_is_better else -1)
    verdict = "beats" if gain >= min_improvement else "does not beat"
    return {
        "promote": gain >= min_improvement,
        "reason": (
            f"challenger {primary_metric} {challenger_score:.4f} vs champion {champion_score:.4f} on the same test "
            f"split: a gain of {gain:+.4f}, which {verdict} the required margin of {min_improvement}"
        ),
    }
