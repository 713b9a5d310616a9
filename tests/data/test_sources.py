import pandas as pd
import pytest

from forgeml.data import load_bundled, prepare_table
from forgeml.data.batches import Batches
from forgeml.errors import ConfigError, DataError


def prepared(frame: pd.DataFrame, target: str, batch_rows: int = 1000, **options) -> pd.DataFrame:
    return prepare_table(Batches.of(frame, batch_rows), target, **options).frame()


def test_bundled_data_sets_have_features_and_target():
    digits = load_bundled("digits")
    assert digits.shape == (1797, 65)
    assert sorted(digits["target"].unique()) == list(range(10))


def test_unknown_bundled_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="breast_cancer, digits"):
        load_bundled("iris")


def test_missing_target_names_the_columns_and_the_parameter(breast_cancer):
    with pytest.raises(DataError, match=r"'label' is not in .*mean radius.*experiment.target"):
        prepared(breast_cancer, "label")


def test_non_numeric_feature_is_named(breast_cancer):
    table = breast_cancer.assign(colour="red")
    with pytest.raises(DataError, match="non-numeric feature columns: colour"):
        prepared(table, "target")


def test_single_class_is_refused(breast_cancer):
    with pytest.raises(DataError, match="1 distinct label"):
        prepared(breast_cancer.assign(target=1), "target")


def test_every_row_is_kept_for_the_duplicates_policy_to_count(breast_cancer):
    doubled = pd.concat([breast_cancer, breast_cancer.head(10)])
    assert len(prepared(doubled, "target")) == len(breast_cancer) + 10


def test_a_header_only_table_has_no_rows_not_non_numeric_columns(breast_cancer):
    with pytest.raises(DataError, match="has no rows"):
        prepared(breast_cancer.head(0).astype(object), "target")


def test_labels_lose_surrounding_blanks_and_keep_emoji_and_accents(caplog):
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": ["très bien 👍", " très bien 👍 ", "autre", "autre\t"]})
    stripped = prepared(table, "label", source="feedback.csv")
    assert stripped["label"].tolist() == ["très bien 👍", "très bien 👍", "autre", "autre"]
    assert "2 label(s) of feedback.csv had surrounding blanks" in caplog.text
    numbers = prepared(table.assign(label=[0, 1, 0, 1]), "label")
    assert numbers["label"].tolist() == [0, 1, 0, 1]


def test_a_table_read_in_batches_is_checked_in_every_batch_and_its_labels_counted_once(caplog):
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "label": [" a", "b", "a ", "b", " a"]})
    prepared_batches = prepare_table(Batches.of(table, 2), "label", source="feedback.csv")
    assert prepared_batches.frame()["label"].tolist() == ["a", "b", "a", "b", "a"]
    assert caplog.text.count("had surrounding blanks") == 1 and "3 label(s) of feedback.csv" in caplog.text
    parts = [pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]}), pd.DataFrame({"x": ["three"], "label": ["a"]})]
    batches = prepare_table(Batches(3, lambda columns: iter(parts)), "label", source="feedback.csv")  # 1st is numeric
    with pytest.raises(DataError, match="feedback.csv has non-numeric feature columns: x"):
        batches.frame()
