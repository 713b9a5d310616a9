"""The promotion gate, as pure functions: which candidate challenges, and whether it may replace the champion.

The challenger is chosen among the run's candidates that break no constraint (``choose_challenger``): by
default the cheapest one (``release.cost``: latency at batch 1 or at the largest batch, or size) that the
best candidate is not significantly better than, by McNemar's test on their paired test predictions, so a
model 90 times slower never wins on a difference that is noise (``ChoiceRule``). ``release.choice: best_metric`` picks the
best primary metric instead. A compressed candidate slower than its base (``max_ratio_to_base``) breaks a
constraint: compressing it bought nothing.

The gate's rules, checked in this order; the first that stops the challenger is the one recorded:

1. ``constraints``: the challenger's latency, size and robustness, and the data validation, must pass;
2. ``first champion``: with no champion yet, the challenger becomes champion;
3. ``min_improvement``: on the same test split, the challenger must beat the champion by this margin;
4. ``significance``: and McNemar's exact test on the paired predictions must find the difference
   significant at the configured level, so that noise alone never moves the champion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# constraint in parameters -> (metric it bounds, True for an upper bound)
CONSTRAINTS = {
    "max_latency_ms": ("latency_b1_p50_ms", True),
    "max_size_bytes": ("size_bytes", True),
    "min_robustness": ("robustness_noise", False),
    # a compressed candidate's latency paired with its base's (forgeml.evaluate); checked for those only
    "max_ratio_to_base": ("latency_b1_ratio_p50", True),
}
COMPRESSED_ONLY = {"max_ratio_to_base"}
CHOICES = ("cheapest_within_noise", "best_metric")
COSTS = ("latency_b1", "latency_batch", "size")


@dataclass(frozen=True)
class ChoiceRule:
    """How the release chooses its challenger (``release.choice``, ``.significance``, ``.cost``,
    ``.cost_tolerance``): ``cost`` is the evaluate stage's metric the cost names, and costs within
    ``cost_tolerance`` (relative) of the cheapest count as equal, since two equal models' timings scatter
    a few percent: the better of them is chosen, not the luckier."""

    choice: str = "cheapest_within_noise"
    significance: float = 0.05
    cost: str = "latency_b1_p50_ms"
    cost_tolerance: float = 0.1

    def __post_init__(self):
        from forgeml.errors import ConfigError

        if self.choice not in CHOICES:
            raise ConfigError(f"release.choice must be one of {', '.join(CHOICES)}, not {self.choice!r}.")
        if not 0.0 <= self.cost_tolerance < 1.0:
            raise ConfigError(f"release.cost_tolerance must be in [0, 1), not {self.cost_tolerance!r}.")

    @classmethod
    def from_release(cls, release: dict[str, Any], latency_batch_sizes: list[int]) -> ChoiceRule:
        """The rule ``release`` (the parameters) sets, its cost named as the evaluate stage's metric."""
        from forgeml.errors import ConfigError

        cost = release["cost"]
        if cost not in COSTS:
            raise ConfigError(f"release.cost must be one of {', '.join(COSTS)}, not {cost!r}.")
        metric = {"latency_b1": "latency_b1_p50_ms", "size": "size_bytes",
                  "latency_batch": f"latency_b{max(latency_batch_sizes)}_p50_ms"}[cost]
        return cls(release["choice"], release["significance"], metric, release["cost_tolerance"])


def choose_challenger(
    scores: dict[str, float], costs: dict[str, float], correct: dict[str, np.ndarray],
    failures: dict[str, list[str]], rule: ChoiceRule = ChoiceRule(),
) -> dict[str, Any]:
    """The challenger among a run's candidates, and why, as a record for promotion.json, the audit log and
    the model cards.

    ``scores``: each candidate's primary metric (higher is better); ``costs``: its cost (lower is better);
    ``correct``: whether it got each test row right (the same rows for all); ``failures``: the constraints
    it breaks. With none eligible, the best candidate is the challenger, and the gate records its failures.
    """
    significance = rule.significance
    eligible = [name for name in scores if not failures.get(name)]
    pool = eligible or list(scores)
    best = max(pool, key=lambda name: (scores[name], -costs[name]))
    p_best_better = {name: (None if name == best else mcnemar_p_value(correct[best], correct[name])) for name in pool}
    within_noise = [name for name in eligible if name == best or p_best_better[name] > significance]
    if not eligible:
        challenger = best
        reason = (f"no candidate passes the constraints: the best, {best} ({scores[best]:.4f}), challenges, "
                  "and the gate records what it breaks")
    elif len(eligible) == 1:
        challenger, reason = best, f"{best} is the only eligible candidate"
    elif rule.choice == "best_metric":
        challenger = best
        reason = f"{best} has the best score ({scores[best]:.4f}) of {len(eligible)} eligible candidates (release.choice: best_metric)"
    elif len(within_noise) == 1:
        challenger = best
        reason = (f"{best} has the best score ({scores[best]:.4f}) and is significantly better than every other "
                  f"eligible candidate (McNemar's p <= {significance})")
    else:
        cheapest = min(costs[name] for name in within_noise)
        as_cheap = [name for name in within_noise if costs[name] <= cheapest * (1 + rule.cost_tolerance)]
        challenger = max(as_cheap, key=lambda name: (scores[name], -costs[name]))
        if challenger == best:
            reason = (f"{best} has the best score ({scores[best]:.4f}) and costs least of the "
                      f"{len(within_noise)} candidates within noise of it")
        else:
            reason = (f"{challenger} ({scores[challenger]:.4f}, {rule.cost} {costs[challenger]:.4g}) is the cheapest of the "
                      f"{len(within_noise)} candidates within noise of the best, {best} ({scores[best]:.4f}, {rule.cost} "
                      f"{costs[best]:.4g}): McNemar's p = {p_best_better[challenger]:.3g} > {significance} that {best} is "
                      f"better, at {costs[best] / costs[challenger]:.3g}x the cost")
        if len(as_cheap) > 1:
            reason += (f" (the best score of the {len(as_cheap)} whose {rule.cost} is within "
                       f"{rule.cost_tolerance:.0%} of the cheapest: {', '.join(as_cheap)})")
    return {
        "challenger": challenger, "best": best, **asdict(rule), "within_noise": within_noise, "reason": reason,
        "candidates": {name: {"score": scores[name], "cost": costs[name], "eligible": name in eligible,
                              "failures": list(failures.get(name, [])), "p_best_better": p_best_better.get(name),
                              "within_noise": name in within_noise} for name in scores},
    }


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
    compressed: bool = False,
) -> list[str]:
    """What a candidate breaks, one sentence each; a constraint set to null is not checked, nor one on a
    compressed candidate's ratio to its base for a candidate as trained."""
    from forgeml.errors import ConfigError

    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise ConfigError(f"Unknown release.constraints {unknown}; known: {sorted(CONSTRAINTS)}.")
    failures = [] if validation_passed else ["the data validation did not pass"]
    for constraint, bound in constraints.items():
        if bound is None or (constraint in COMPRESSED_ONLY and not compressed):
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
