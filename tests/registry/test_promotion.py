import numpy as np
import pytest

from forgeml.errors import ConfigError
from forgeml.registry import decide_promotion, pick_challenger
from forgeml.registry.promotion import constraint_failures, mcnemar_p_value


def test_first_model_becomes_champion():
    decision = decide_promotion(0.9, None, 0.01, "accuracy")
    assert decision["promote"] and decision["rule"] == "first champion"


def test_equal_or_slightly_better_challenger_is_stopped_by_the_margin():
    assert not decide_promotion(0.95, 0.95, 0.005, "accuracy")["promote"]
    decision = decide_promotion(0.953, 0.95, 0.005, "accuracy")
    assert not decision["promote"] and decision["rule"] == "min_improvement" and "does not beat" in decision["reason"]


def test_worse_challenger_is_stopped_by_the_margin_even_with_no_margin():
    decision = decide_promotion(0.90, 0.95, 0.0, "accuracy", p_value=0.9, significance=0.05)
    assert not decision["promote"] and decision["rule"] == "min_improvement"


def test_better_but_not_significant_challenger_is_not_promoted():
    decision = decide_promotion(0.97, 0.95, 0.005, "accuracy", p_value=0.25, significance=0.05)
    assert not decision["promote"] and decision["rule"] == "significance" and "p = 0.25" in decision["reason"]


def test_clearly_and_significantly_better_challenger_is_promoted():
    decision = decide_promotion(0.97, 0.95, 0.005, "accuracy", p_value=0.01, significance=0.05)
    assert decision["promote"] and decision["rule"] == "gate passed" and "+0.0200" in decision["reason"]


def test_a_broken_constraint_stops_even_a_first_champion():
    decision = decide_promotion(0.99, None, 0.0, "accuracy", failures=["size_bytes is 9e+06, above max_size_bytes 1e+06"])
    assert not decision["promote"] and decision["rule"] == "constraints" and "max_size_bytes" in decision["reason"]


def test_mcnemar_counts_only_the_rows_where_the_two_disagree():
    agree = np.ones(500, bool)
    # Challenger right on 8 rows the champion gets wrong, and the reverse on 2: p = P(X >= 8), X ~ Bin(10, 0.5).
    challenger = np.concatenate([agree, np.ones(8, bool), np.zeros(2, bool)])
    champion = np.concatenate([agree, np.zeros(8, bool), np.ones(2, bool)])
    assert mcnemar_p_value(challenger, champion) == pytest.approx((45 + 10 + 1) / 1024)
    assert mcnemar_p_value(champion, challenger) > 0.9
    assert mcnemar_p_value(agree, agree) == 1.0


def test_one_or_two_more_right_answers_are_never_significant():
    # What a rerun's noise looks like: a couple of test rows flip. The gate must not move the champion.
    challenger, champion = np.ones(114, bool), np.ones(114, bool)
    champion[:2] = False
    assert mcnemar_p_value(challenger, champion) == pytest.approx(0.25)


def test_constraints_name_the_metric_the_bound_and_the_failed_validation():
    metrics = {"latency_b1_p50_ms": 2.5, "size_bytes": 5000, "robustness_noise": 0.8}
    assert constraint_failures(metrics, {"max_latency_ms": 3.0, "max_size_bytes": None, "min_robustness": 0.7}) == []
    failures = constraint_failures(metrics, {"max_latency_ms": 1.0, "min_robustness": 0.9}, validation_passed=False)
    assert failures[0] == "the data validation did not pass"
    assert "latency_b1_p50_ms is 2.5, above max_latency_ms 1" in failures[1]
    assert "robustness_noise is 0.8, below min_robustness 0.9" in failures[2]
    with pytest.raises(ConfigError, match="max_memory"):
        constraint_failures(metrics, {"max_memory": 1})


def test_challenger_is_best_metric_then_smallest():
    metrics = {
        "big": {"accuracy": 0.97, "size_bytes": 900},
        "small": {"accuracy": 0.97, "size_bytes": 100},
        "worse": {"accuracy": 0.90, "size_bytes": 10},
    }
    assert pick_challenger(metrics, "accuracy") == "small"
