from forgeml.reporting import candidate_table

SCORES = {"accuracy": 0.99, "f1_macro": 0.98, "size_bytes": 2048, "latency_b1_p50_ms": 0.1, "latency_b256_p50_ms": 1.0}


def test_candidate_table_shows_robustness_versions_and_the_promotion():
    metrics = {"resnet": {**SCORES, "robustness_noise": 0.8765}, "logreg": SCORES}
    promotion = {
        "registered": {"resnet": {"version": "4"}, "logreg": {"version": "1"}},
        "challenger": {"candidate": "resnet"}, "promoted": True, "champion_after": "4",
        "reason": "first challenger", "registered_model": "digits",
    }
    text = candidate_table(metrics, promotion)
    resnet_row = next(line for line in text.splitlines() if "resnet" in line)
    assert "0.8765" in resnet_row and "champion" in resnet_row and "2.0 KiB" in resnet_row
    logreg_row = next(line for line in text.splitlines() if "logreg" in line)
    assert " - " in logreg_row and "champion" not in logreg_row
    assert "Champion of 'digits': version 4." in text
