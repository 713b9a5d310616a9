from forgeml.registry import decide_promotion, pick_challenger


def test_first_model_becomes_champion():
    assert decide_promotion(0.9, None, 0.01, "accuracy")["promote"]


def test_equal_or_slightly_better_challenger_is_not_promoted():
    assert not decide_promotion(0.95, 0.95, 0.005, "accuracy")["promote"]
    decision = decide_promotion(0.953, 0.95, 0.005, "accuracy")
    assert not decision["promote"] and "does not beat" in decision["reason"]


def test_clearly_better_challenger_is_promoted():
    decision = decide_promotion(0.97, 0.95, 0.005, "accuracy")
    assert decision["promote"] and "+0.0200" in decision["reason"]


def test_challenger_is_best_metric_then_smallest():
    metrics = {
        "big": {"accuracy": 0.97, "size_bytes": 900},
        "small": {"accuracy": 0.97, "size_bytes": 100},
        "worse": {"accuracy": 0.90, "size_bytes": 10},
    }
    assert pick_challenger(metrics, "accuracy") == "small"
