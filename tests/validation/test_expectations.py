import numpy as np
import pytest

from forgeml.errors import DataValidationError
from forgeml.validation import check_passed, suggest_suite, validate_splits, validate_table


def failures_by_column(report):
    return {(f["expectation"], f["column"]) for f in report["failures"]}


def test_clean_table_passes_and_renders_data_docs(breast_cancer, breast_cancer_suite):
    report, html = validate_table([breast_cancer], breast_cancer_suite, "target")
    assert report["success"], report["failures"]
    assert report["evaluated_expectations"] == 3 + 2 * 30
    assert "<html" in html.lower() and "mean radius" in html


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda t: t.assign(**{"mean area": np.nan}), ("expect_column_values_to_not_be_null", "mean area")),
        (lambda t: t.assign(target=t["target"].replace({1: 7})), ("expect_column_values_to_be_in_set", "target")),
        (lambda t: t.drop(columns=["worst radius"]), ("expect_table_columns_to_match_set", None)),
        (lambda t: t.assign(**{"mean radius": t["mean radius"] * 1000}), ("expect_column_values_to_be_between", "mean radius")),
    ],
    ids=["nan-column", "unseen-label", "dropped-column", "out-of-range"],
)
def test_each_corruption_is_caught_with_its_column(breast_cancer, breast_cancer_suite, corrupt, expected):
    report, _ = validate_table([corrupt(breast_cancer.copy())], breast_cancer_suite, "target")
    assert not report["success"]
    assert expected in failures_by_column(report)
    with pytest.raises(DataValidationError) as error:
        check_passed(report, "breast_cancer", "data")
    message = str(error.value)
    assert expected[0] in message and "observed" in message and "breast_cancer/validation/data.html" in message
    assert "conf/experiments/breast_cancer/parameters_data.yml" in message
    if expected[1]:
        assert repr(expected[1]) in message


def test_min_rows_per_class(breast_cancer, breast_cancer_suite):
    report, _ = validate_table([breast_cancer], {**breast_cancer_suite, "min_rows_per_class": 300}, "target")
    failure = next(f for f in report["failures"] if f["expectation"] == "forgeml_min_rows_per_class")
    assert failure["observed"] == {"0": 212}


def test_a_table_checked_in_pieces_reports_every_row_as_the_whole_table_would(breast_cancer, breast_cancer_suite):
    table = breast_cancer.copy()
    table.loc[[3, 400, 500], "mean radius"] = 1000.0  # out of range in the first and the third piece
    pieces = [table.iloc[:200], table.iloc[200:400], table.iloc[400:]]
    whole, _ = validate_table([table], {**breast_cancer_suite, "min_rows_per_class": 250}, "target")
    report, html = validate_table(pieces, {**breast_cancer_suite, "min_rows_per_class": 250}, "target")
    assert report["rows"] == whole["rows"] == len(table) and report["failures"] == whole["failures"]
    (range_failure,) = [f for f in report["failures"] if f["column"] == "mean radius"]
    assert range_failure["observed"]["unexpected_count"] == 3 and range_failure["observed"]["examples"] == [1000.0] * 3
    assert {"0": 212} in [f["observed"] for f in report["failures"]]  # the class counts summed over the pieces
    assert "Checked in 3 pieces" in html and "mean radius" in html


def test_inputs_shared_between_train_and_test_are_caught(breast_cancer):
    from forgeml.modality import TableModality

    table = TableModality({"name": "breast_cancer", "target": "target"})
    train, val, test = table.split(breast_cancer, 0.2, 0.15, seed=0)
    keys = {name: table.input_keys(frame) for name, frame in (("train", train), ("val", val), ("test", test))}
    assert validate_splits(keys)[0]["success"]
    leaked = test.copy()
    leaked.iloc[:3] = train.iloc[:3].to_numpy()
    report, _ = validate_splits({**keys, "test": table.input_keys(leaked)})
    assert not report["success"]
    observed = report["failures"][0]["observed"]
    assert observed["unexpected_count"] == 3
    assert sorted(observed["__row_hash"]) == sorted(keys["train"][:3])  # the report names the shared inputs


def test_suggested_suite_accepts_its_own_table(breast_cancer):
    suite = suggest_suite(breast_cancer, "target")
    assert suite["labels"] == [0, 1]
    assert validate_table([breast_cancer], suite, "target")[0]["success"]


def test_a_suite_is_never_drafted_to_admit_infinity_or_to_fail_its_own_rows():
    import numpy as np
    import pandas as pd
    import pytest

    from forgeml.errors import DataError

    with pytest.raises(DataError, match=r"Column 'x' holds NaN or infinite values in 2 row\(s\) \(rows 1, 3"):
        suggest_suite(pd.DataFrame({"x": [0.5, np.inf, 2.0, -np.inf], "y": [0, 1, 0, 1]}), "y")
    two_rows = pd.DataFrame({"x": [0.5, 2.0], "y": [0, 1]})
    suite = suggest_suite(two_rows, "y")
    assert suite["min_rows_per_class"] == 1 and validate_table([two_rows], suite, "y")[0]["success"]


def image_manifest(sizes, labels):
    import pandas as pd

    return pd.DataFrame({
        "path": [f"images/{label}/{i}.png" for i, label in enumerate(labels)],
        "target": labels,
        "source_height": sizes, "source_width": sizes, "channels": 1,
        "pixel_min": 0.0, "pixel_max": 1.0,
    })


IMAGE_SUITE = {"images": {"channels": 1, "min_size": 8, "max_size": 64}, "labels": ["a", "b"], "min_rows_per_class": 2}


def test_image_suite_passes_good_images():
    from forgeml.validation import validate_images

    report, html = validate_images([image_manifest([8, 16, 32, 64], ["a", "a", "b", "b"])], IMAGE_SUITE, "target")
    assert report["success"] and report["rows"] == 4 and "<html" in html.lower()


def test_image_suite_names_the_wrongly_sized_file():
    from forgeml.validation import validate_images

    report, _ = validate_images([image_manifest([8, 4, 32, 64], ["a", "a", "b", "b"])], IMAGE_SUITE, "target")
    assert not report["success"]
    failures = {f["column"]: f for f in report["failures"]}
    assert failures["source_height"]["observed"]["path"] == ["images/a/1.png"]


def test_image_suite_flags_a_declared_class_with_no_images():
    from forgeml.validation import validate_images

    report, _ = validate_images([image_manifest([8, 8, 8], ["a", "a", "a"])], IMAGE_SUITE, "target")
    assert report["failures"][-1]["observed"] == {"b": 0}
