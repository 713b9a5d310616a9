import pandas as pd
import pytest

from forgeml.data import load_bundled, prepare_table, split_table
from forgeml.errors import ConfigError, DataError


def test_bundled_data_sets_have_features_and_target():
    digits = load_bundled("digits")
    assert digits.shape == (1797, 65)
    assert sorted(digits["target"].unique()) == list(range(10))


def test_unknown_bundled_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="breast_cancer, digits"):
        load_bundled("iris")


def test_missing_target_names_the_columns_and_the_parameter(breast_cancer):
    with pytest.raises(DataError, match=r"'label' is not in .*mean radius.*experiment.target"):
        prepare_table(breast_cancer, "label")


def test_non_numeric_feature_is_named(breast_cancer):
    table = breast_cancer.assign(colour="red")
    with pytest.raises(DataError, match="non-numeric feature columns: colour"):
        prepare_table(table, "target")


def test_single_class_is_refused(breast_cancer):
    with pytest.raises(DataError, match="1 distinct label"):
        prepare_table(breast_cancer.assign(target=1), "target")


def test_exact_duplicates_are_dropped(breast_cancer):
    doubled = pd.concat([breast_cancer, breast_cancer.head(10)])
    assert len(prepare_table(doubled, "target")) == len(breast_cancer)


def test_split_is_stratified_seeded_and_disjoint(breast_cancer):
    train, val, test = split_table(breast_cancer, "target", 0.2, 0.15, seed=1)
    assert len(train) + len(val) + len(test) == len(breast_cancer)
    overall = breast_cancer["target"].mean()
    for part in (train, val, test):
        assert abs(part["target"].mean() - overall) < 0.02
    again = split_table(breast_cancer, "target", 0.2, 0.15, seed=1)
    pd.testing.assert_frame_equal(test, again[2])
    other = split_table(breast_cancer, "target", 0.2, 0.15, seed=2)
    assert not test.equals(other[2])


def test_split_fractions_are_checked(breast_cancer):
    with pytest.raises(DataError, match="add up to less than 1"):
        split_table(breast_cancer, "target", 0.6, 0.5, seed=0)
