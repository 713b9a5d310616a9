import numpy as np
import pytest
import torch

from forgeml.evaluate import robustness_curves, robustness_metrics
from forgeml.evaluate.robustness import IMAGE_PERTURBATIONS, drop_words, feature_noise, occlude, on_pixel_rows

IMAGES = {kind: on_pixel_rows(perturbation, (1, 8, 8)) for kind, perturbation in IMAGE_PERTURBATIONS.items()}

LEVELS = {"noise": [0.1, 0.5], "occlusion": [0.25, 0.75], "rotation": [15, 90]}


def bright_left_half_images(n=200, seed=0):
    """Class 1 images are bright on the left half, class 0 on the right: a task rotation and occlusion can break."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = np.zeros((n, 1, 8, 8), np.float32)
    for index, label in enumerate(labels):
        images[index, 0, :, :4] = 1.0 if label else 0.0
        images[index, 0, :, 4:] = 0.0 if label else 1.0
    return images.reshape(n, -1), labels


def left_minus_right(features):
    images = features.reshape(-1, 8, 8)
    score = images[:, :, :4].mean((1, 2)) - images[:, :, 4:].mean((1, 2))
    return np.stack([-score, score], 1)


def test_curves_start_at_clean_accuracy_and_fall_with_strength():
    features, labels = bright_left_half_images()
    curves = robustness_curves(left_minus_right, features, labels, np.array([0, 1]), LEVELS, IMAGES)
    assert set(curves) == set(LEVELS)
    for kind, curve in curves.items():
        assert curve["levels"] == [0.0, *map(float, LEVELS[kind])]
        assert curve["accuracy"][0] == 1.0
    assert curves["rotation"]["accuracy"][-1] < 0.8  # a quarter turn swaps left and right for half the images


def test_occlusion_blacks_out_one_square_of_the_given_side():
    occluded = occlude(torch.ones(20, 1, 8, 8), 0.5, torch.Generator().manual_seed(0))
    assert ((occluded == 0).sum((1, 2, 3)) == 16).all()  # a 4x4 square in each image


def test_same_seed_same_perturbation():
    rows = np.random.default_rng(0).random((10, 64)).astype(np.float32)
    for kind, perturb in IMAGES.items():
        first, again = perturb(rows, LEVELS[kind][0], 3), perturb(rows, LEVELS[kind][0], 3)
        assert np.array_equal(first, again) and first.shape == rows.shape and first.min() >= 0 and first.max() <= 1
        assert not np.array_equal(first, perturb(rows, LEVELS[kind][0], 4))


def test_tables_get_noise_scaled_by_each_feature_spread():
    rng = np.random.default_rng(0)
    features = np.stack([rng.normal(0, 1000, 500), rng.normal(0, 0.001, 500)], 1).astype(np.float32)
    noisy = feature_noise(features, 0.5, 0)
    ratio = (noisy - features).std(0) / features.std(0)
    np.testing.assert_allclose(ratio, [0.5, 0.5], rtol=0.1)
    labels = (features[:, 0] > 0).astype(int)
    curves = robustness_curves(lambda x: np.stack([-x[:, 0], x[:, 0]], 1), features, labels, np.array([0, 1]), LEVELS,
                               {"noise": feature_noise})
    assert list(curves) == ["noise"]


def test_metrics_name_each_level_and_summarise_each_perturbation():
    curves = {"noise": {"levels": [0.0, 0.1, 0.3], "accuracy": [1.0, 0.9, 0.5]}}
    assert robustness_metrics(curves) == {"noise_0.1_accuracy": 0.9, "noise_0.3_accuracy": 0.5, "robustness_noise": pytest.approx(0.7)}


def test_texts_lose_words_at_each_level_and_get_only_the_text_perturbation():
    texts = np.asarray(["the beans were really good"] * 4 + ["the beans were really bad"] * 4, dtype=object)
    labels = np.asarray([1] * 4 + [0] * 4)
    dropped = drop_words(texts, 0.5, 0)
    assert all(0 < len(d.split()) <= 5 for d in dropped) and list(dropped) != list(texts)

    def keyword_model(batch):  # right while the telling word survives
        positive = np.asarray(["good" in t.split() for t in batch], float)
        return np.stack([1 - positive, positive], axis=1)

    curves = robustness_curves(keyword_model, texts, labels, np.asarray([0, 1]),
                               {"word_dropout": [0.5, 0.9], "noise": [0.1]}, {"word_dropout": drop_words}, seed=0)
    assert set(curves) == {"word_dropout"}
    assert curves["word_dropout"]["accuracy"][0] == 1.0 and curves["word_dropout"]["accuracy"][2] < 1.0
