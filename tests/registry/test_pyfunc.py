"""What a registered version takes: exactly its columns, finite numbers (or text); anything else is refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from forgeml.registry.pyfunc import ClassifierModel, TextClassifierModel


class Echo:
    def predict(self, inputs):
        return np.asarray([len(row) if isinstance(row, str) else float(np.sum(row)) for row in inputs])


@pytest.fixture
def table_model():
    return ClassifierModel(Echo(), ["a", "b"])


def test_columns_are_taken_by_name_in_the_model_order(table_model):
    assert table_model.predict(None, pd.DataFrame({"b": [2.0], "a": ["1.5"]})).tolist() == [3.5]
    assert table_model.predict(None, np.array([[1.0, 2.0]])).tolist() == [3.0]


@pytest.mark.parametrize(("rows", "message"), [
    (pd.DataFrame({"a": [1.0, np.inf, 2.0], "b": [1.0, 2.0, np.nan]}),
     "column 'a' holds NaN, missing or infinite values in rows 1; column 'b' holds NaN, missing or infinite values in rows 2"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": ["3", "three"]}), "column 'b' holds non-numeric values in rows 1"),
    (pd.DataFrame({"a": [1.0, -1e39, 1e308], "b": [3.4e38, 1.0, 2.0]}),  # finite in float64, infinite in float32
     "column 'a' holds values beyond float32's range (±3.403e+38), which the model computes in, in rows 1, 2"),
    (pd.DataFrame({"a": [1.0]}), "missing columns ['b']"),
    (pd.DataFrame({"a": [1.0], "b": [2.0], "id": [3]}), "unknown columns ['id']"),
    (np.ones((2, 3)), "got an array of shape (2, 3)"),
])
def test_bad_rows_are_refused_naming_the_column_and_row(table_model, rows, message):
    with pytest.raises(MlflowException, match="") as refused:
        table_model.predict(None, rows)
    assert message in refused.value.message
    assert refused.value.get_http_status_code() == 400  # what `mlflow models serve` answers


def test_a_text_model_takes_strings_only():
    model = TextClassifierModel(Echo(), ["text"])
    assert model.predict(None, pd.DataFrame({"text": ["ok 👍", " é "]})).tolist() == [4, 3]
    with pytest.raises(MlflowException, match=r"column 'text' must hold text, not in rows 1"):
        model.predict(None, pd.DataFrame({"text": ["fine", None]}))
