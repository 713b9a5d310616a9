import numpy as np
import pytest

from forgeml.evaluate import classification_metrics, confusion_matrix_figure, measure_latency, serialized_size


def test_perfect_confident_predictions():
    labels = np.array(["a", "b", "a", "b"])
    probabilities = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=float)
    scores = classification_metrics(probabilities, labels, np.array(["a", "b"]))
    assert scores["accuracy"] == 1 and scores["f1_macro"] == 1 and scores["roc_auc"] == 1
    assert scores["log_loss"] == pytest.approx(0, abs=1e-6) and scores["ece"] == pytest.approx(0, abs=1e-6)


def test_overconfident_mistakes_show_in_loss_and_calibration():
    labels = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.99, 0.01], [0.99, 0.01], [0.99, 0.01], [0.01, 0.99]])
    scores = classification_metrics(probabilities, labels, np.array([0, 1]))
    assert scores["accuracy"] == 0.75
    assert scores["log_loss"] > 1 and scores["ece"] > 0.2


def test_size_and_latency_are_measured():
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.random.rand(50, 3), np.arange(50) % 2)
    assert serialized_size(model) > 100
    timing = measure_latency(model.predict_proba, np.random.rand(8, 3), repeats=5, warmup=1)
    assert 0 < timing["p50_ms"] <= timing["p95_ms"]


def test_confusion_matrix_figure_has_counts():
    figure = confusion_matrix_figure(np.array([[5, 1], [0, 4]]), ["a", "b"], "t")
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert texts == {"5", "1", "0", "4"}
