"""The promotion gate, as pure functions: which candidate challenges, and whether it may replace the champion.

The gate's rules, checked in this order; the first that stops the challenger is the one recorded:

1. ``constraints``: the challenger's latency, size and robustness, and the data validation, must pass;
2. ``first champion``: with no champion yet, the challenger becomes champion;
3. ``min_improvement``: on the same test split, the challenger must beat the champion by this margin;
4. ``significance``: and McNemar's exact test on the paired predictions must find the difference
   significant at the configured level, so that noise alone never moves the champion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# constraint in parameters -> (metric it bounds, True for an upper bound)
CONSTRAINTS = {
    "max_latency_ms": ("latency_b1_p50_ms", True),
    "max_size_bytes": ("size_bytes", True),
    "min_robustness": ("robustness_noise", False),
}


def pick_challenger(metrics: dict[str, dict[str, float]], primary_metric: str, higher_is_better: bool = True) -> str:
    """The candidate with the best primary metric; ties go to the smaller model."""
    sign = 1 if higher_is_better else -1
    return max(metrics, key=lambda name: (sign * metrics[name][primary_metric], -metrics[name]["size_bytes"]))


def mcnemar_p_value(challenger_correct: np.ndarray, champion_correct: np.ndarray) -> float:
    """One-sided exact McNemar test: the chance of the challenger winning at least this many of the
    rows on which the two disagree, if both were equally good."""
    from scipy.stats import binomtest

    challenger_only = int(np.sum(challenger_correct & ~champion_correct))
    champion_only = int(np.sum(~challenger_correct & champion_correct))
    if challenger_only + champion_only == 0:
        return 1.0
    return float(binomtest(challenger_only, challenger_only + champion_only, 0.5, alternative="greater").pvalue)


def constraint_failures(
    metrics: dict[str, float], constraints: dict[str, float | None], validation_passed: bool = True,
) -> list[str]:
    """What the challenger breaks, one sentence each; a constraint set to null is not checked."""
    from forgeml.errors import ConfigError

    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise ConfigError(f"Unknown release.constraints {unknown}; known: {sorted(CONSTRAINTS)}.")
    failures = [] if validation_passed else ["the data validation did not pass"]
    for constraint, bound in constraints.items():
        if bound is None:
            continue
        metric, upper = CONSTRAINTS[constraint]
        value = metrics[metric]
        if (value > bound) if upper else (value < bound):
            failures.append(f"{metric} is {value:.4g}, {'above' if upper else 'below'} {constraint} {bound:g}")
    return failures


def decide_promotion(
    challenger_score: float,
    champion_score: float | None,
    min_improvement: float,
    primary_metric: str,
    p_value: float = 0.0,
    significance: float = 1.0,
    failures: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """Whether to promote, the rule that decided (see the module's docstring) and a sentence why.

    Both scores must come from the same test split, and ``p_value`` from the same paired predictions.
    """
    if failures:
        return {"promote": False, "rule": "constraints", "reason": "the challenger breaks a constraint: " + "; ".join(failures)}
    if champion_score is None:
        return {"promote": True, "rule": "first champion", "reason": "no champion yet: the first challenger becomes champion"}
    gain = challenger_score - champion_score
    scores = (f"challenger {primary_metric} {challenger_score:.4f} vs champion {champion_score:.4f} on the same test "
              f"split: a gain of {gain:+.4f}")
    if gain < min_improvement:
        return {"promote": False, "rule": "min_improvement",
                "reason": f"{scores}, which does not beat the required margin of {min_improvement}"}
    if p_value > significance:
        return {"promote": False, "rule": "significance",
                "reason": f"{scores}, but McNemar's test gives p = {p_value:.3g} > {significance}: not significant"}
    return {"promote": True, "rule": "gate passed",
            "reason": f"{scores}, beating the margin of {min_improvement}, with McNemar's p = {p_value:.3g} <= {significance}"}
