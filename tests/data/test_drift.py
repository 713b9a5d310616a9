import numpy as np
import pandas as pd
import pytest

from forgeml.data.drift import drift_html, drift_report, image_statistics, reference_sample, text_statistics


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.normal(50, 10, 2000), "dose": rng.lognormal(0, 1, 2000), "constant": np.ones(2000)})


def test_the_same_distribution_does_not_drift(reference):
    rng = np.random.default_rng(1)
    current = pd.DataFrame({"age": rng.normal(50, 10, 1500), "dose": rng.lognormal(0, 1, 1500), "constant": np.ones(1500)})
    report = drift_report(reference, current, threshold=0.1)
    assert report["drift"] is False and report["drifted"] == []
    assert all(entry["drift"] < 0.1 for entry in report["statistics"])
    assert (report["reference_rows"], report["current_rows"]) == (2000, 1500)


def test_a_shifted_column_is_named_first_and_alone(reference):
    current = reference.assign(age=reference["age"] + 5)  # half a standard deviation
    report = drift_report(reference, current, threshold=0.1)
    assert report["drifted"] == ["age"] and report["statistics"][0]["statistic"] == "age"
    assert report["statistics"][0]["drift"] == pytest.approx(0.5, abs=0.03)
    assert report["statistics"][0]["ks_p_value"] < 1e-6


def test_a_constant_that_changes_has_drifted_and_a_missing_column_is_named(reference):
    current = reference.assign(constant=2.0).drop(columns=["dose"]).assign(new=1.0)
    report = drift_report(reference, current, threshold=0.1)
    assert report["drifted"] == ["constant"]
    assert report["not_compared"] == ["dose", "new"]


def test_the_html_shows_the_verdict_and_a_histogram_of_what_moved(reference):
    current = reference.assign(age=reference["age"] * 1.5)
    report = drift_report(reference, current, threshold=0.1)
    page = drift_html(report, reference, current, "Drift of <trial>")
    assert "Drift in 1 of 3 statistics: age." in page and "&lt;trial&gt;" in page
    assert page.count("data:image/png;base64,") == 3


def test_the_reference_is_a_bounded_random_sample(reference):
    sample = reference_sample(reference, rows=500)
    assert len(sample) == 500 and not sample.index.equals(reference.index[:500])
    assert reference_sample(reference.head(10)).equals(reference.head(10))


def test_text_statistics_measure_length_vocabulary_and_characters():
    stats = text_statistics(pd.Series(["Great tea", "great great great", "", "Ça coûte 12 €", None]))
    assert stats["words"].tolist() == [2, 3, 0, 4, 0]
    assert stats["characters"].tolist() == [9, 17, 0, 13, 0]
    assert stats.loc[1, "distinct_word_share"] == pytest.approx(1 / 3)
    assert stats.loc[3, "non_ascii_share"] == pytest.approx(3 / 13) and stats.loc[3, "digit_share"] == pytest.approx(2 / 13)


def test_image_statistics_measure_brightness_contrast_and_channels():
    dark, bright = np.zeros((1, 3, 4, 4)), np.ones((1, 3, 4, 4))
    bright[0, 0] = 0.5  # the red channel at half
    stats = image_statistics(np.concatenate([dark, bright]).astype(np.float32))
    assert stats["brightness"].tolist() == pytest.approx([0.0, 2.5 / 3])
    assert stats["dark_share"].tolist() == [1.0, 0.0]
    assert stats["channel_0_mean"].tolist() == pytest.approx([0.0, 0.5]) and "channel_2_mean" in stats
    assert "channel_0_mean" not in image_statistics(np.zeros((2, 1, 4, 4)))
