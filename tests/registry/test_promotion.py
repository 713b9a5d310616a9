import numpy as np
import pytest

from forgeml.errors import ConfigError
from forgeml.registry import choose_challenger, decide_promotion
from forgeml.registry.promotion import ChoiceRule, constraint_failures, mcnemar_p_value


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


def test_a_compressed_candidate_slower_than_its_base_breaks_max_ratio_to_base_and_a_trained_one_cannot():
    slower = {"latency_b1_p50_ms": 3.0, "size_bytes": 10, "robustness_noise": 0.9, "latency_b1_ratio_p50": 1.19}
    assert constraint_failures(slower, {"max_ratio_to_base": 1.1}, compressed=True) == [
        "latency_b1_ratio_p50 is 1.19, above max_ratio_to_base 1.1"]
    assert constraint_failures(slower, {"max_ratio_to_base": 1.1}) == []  # a trained model's ratio to the base


def correct_rows(rows: int, wrong: list[int]) -> np.ndarray:
    right = np.ones(rows, bool)
    right[wrong] = False
    return right


# 200 test rows: `big` gets 2 wrong, `small` those 2 and 3 more (within noise of big: p = 1/8), `tiny`
# those and 17 more (big is significantly better: p = 2^-20)
CORRECT = {"big": correct_rows(200, [0, 1]), "small": correct_rows(200, list(range(5))),
           "tiny": correct_rows(200, list(range(22)))}
SCORES = {name: float(right.mean()) for name, right in CORRECT.items()}
COSTS = {"big": 90.0, "small": 1.0, "tiny": 0.1}


def test_the_cheapest_candidate_within_noise_of_the_best_challenges_with_its_reason():
    choice = choose_challenger(SCORES, COSTS, CORRECT, {})
    assert choice["best"] == "big" and choice["challenger"] == "small"
    assert choice["within_noise"] == ["big", "small"]
    assert choice["candidates"]["small"]["p_best_better"] == pytest.approx(1 / 8)
    assert choice["candidates"]["tiny"]["p_best_better"] < 1e-5 and not choice["candidates"]["tiny"]["within_noise"]
    assert "small (0.9750, latency_b1_p50_ms 1) is the cheapest of the 2 candidates within noise of the best, big" in choice["reason"]
    assert "p = 0.125 > 0.05" in choice["reason"] and "90x the cost" in choice["reason"]


def test_the_best_challenges_when_it_is_significantly_better_than_every_cheaper_one():
    choice = choose_challenger({"big": SCORES["big"], "tiny": SCORES["tiny"]}, COSTS, CORRECT, {})
    assert choice["challenger"] == "big" and choice["within_noise"] == ["big"]
    assert "significantly better than every other eligible candidate" in choice["reason"]
    alone = choose_challenger({"big": SCORES["big"]}, COSTS, CORRECT, {})
    assert alone["challenger"] == "big" and alone["reason"] == "big is the only eligible candidate"


def test_best_metric_keeps_the_old_choice():
    choice = choose_challenger(SCORES, COSTS, CORRECT, {}, ChoiceRule("best_metric"))
    assert choice["challenger"] == "big" and "release.choice: best_metric" in choice["reason"]


def test_a_candidate_that_breaks_a_constraint_is_neither_best_nor_chosen():
    failures = {"small": ["latency_b1_ratio_p50 is 1.19, above max_ratio_to_base 1.1"]}
    choice = choose_challenger(SCORES, COSTS, CORRECT, failures)
    assert choice["challenger"] == "big"
    assert not choice["candidates"]["small"]["eligible"] and choice["candidates"]["small"]["failures"] == failures["small"]
    everything = {name: ["the data validation did not pass"] for name in SCORES}
    choice = choose_challenger(SCORES, COSTS, CORRECT, everything)
    assert choice["challenger"] == "big" and choice["reason"].startswith("no candidate passes the constraints")


def test_equal_scores_go_to_the_cheaper_and_costs_within_the_tolerance_to_the_better():
    same = {"a": correct_rows(50, [0]), "b": correct_rows(50, [0])}
    assert choose_challenger({"a": 0.98, "b": 0.98}, {"a": 5.0, "b": 2.0}, same, {})["challenger"] == "b"
    # b is 5% cheaper than a, within the timing noise of 10%: the better of the two, a
    close = {"best": correct_rows(60, []), "a": correct_rows(60, [0]), "b": correct_rows(60, [0, 1])}
    scores, costs = {"best": 1.0, "a": 59 / 60, "b": 58 / 60}, {"best": 9.0, "a": 2.1, "b": 2.0}
    choice = choose_challenger(scores, costs, close, {})
    assert choice["challenger"] == "a" and "within 10% of the cheapest: a, b" in choice["reason"]
    assert choose_challenger(scores, costs, close, {}, ChoiceRule(cost_tolerance=0.0))["challenger"] == "b"


def test_the_rule_names_its_cost_metric_and_refuses_unknown_settings():
    release = {"choice": "cheapest_within_noise", "significance": 0.05, "cost": "latency_b1", "cost_tolerance": 0.1}
    assert ChoiceRule.from_release(release, [1, 32]).cost == "latency_b1_p50_ms"
    assert ChoiceRule.from_release({**release, "cost": "latency_batch"}, [1, 32]).cost == "latency_b32_p50_ms"
    assert ChoiceRule.from_release({**release, "cost": "size"}, [1]).cost == "size_bytes"
    with pytest.raises(ConfigError, match="release.cost must be one of latency_b1, latency_batch, size, not 'speed'"):
        ChoiceRule.from_release({**release, "cost": "speed"}, [1])
    with pytest.raises(ConfigError, match="release.choice must be one of"):
        ChoiceRule("cheapest")
    with pytest.raises(ConfigError, match="release.cost_tolerance must be in"):
        ChoiceRule(cost_tolerance=-0.1)
