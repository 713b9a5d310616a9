"""Every candidate is stored as one MLflow pyfunc: a DataFrame of raw inputs in (numbers, texts or encoded
images), labels out.

A version is logged as MLflow's "model from code": ``served_model.py`` builds the pyfunc class named by the
version's ``inputs`` setting and ``load_context`` reads the classifier's files (forgeml.models.files), so
loading a version unpickles nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from forgeml.data.images import decode_image, resized
from forgeml.errors import DataError
from forgeml.models.files import load_classifier

CLASSIFIER_ARTIFACT = "classifier"  # the artifact holding the classifier's folder
SHOWN_ROWS = 10  # rows named in an error, at most
CURL = "curl -s http://127.0.0.1:5002/invocations -H 'Content-Type: application/json'"  # `make serve`'s address
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the models compute in float32: a larger value becomes infinite there


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """Wraps any classifier with ``predict`` (a TorchClassifier or a scikit-learn estimator) on numeric features.

    Input is checked before it reaches the classifier: exactly the columns it was trained on, numbers finite in
    float32, the type the models compute in (strings for a TextClassifierModel). Anything else is refused with a
    message naming the columns and rows, which `mlflow models serve` answers with HTTP 400. The version is therefore logged with an output signature only:
    MLflow's own input check would drop unknown columns silently, and a caller who sends the wrong table
    must hear about it."""

    inputs_kind = "numbers"  # the ``inputs`` setting a version of this class is logged with
    example_value: object = 0.0  # what the model card's request sends in each column

    def __init__(self, classifier=None, feature_names: list[str] = ()):
        self.classifier = classifier
        self.feature_names = list(feature_names)

    def load_context(self, context) -> None:
        """A registered version: its classifier from the logged files, its columns from its settings."""
        self.classifier = load_classifier(Path(context.artifacts[CLASSIFIER_ARTIFACT]))
        self.feature_names = list(context.model_config["columns"])

    def settings(self) -> dict:
        """What a version is logged with (MLflow's ``model_config``), for ``load_context``."""
        return {"inputs": self.inputs_kind, "columns": self.feature_names}

    def request_example(self) -> str:
        """A shell command that asks ``make serve`` for a label: the model card shows it."""
        row = json.dumps({"dataframe_split": {"columns": self.feature_names,
                                              "data": [[self.example_value] * len(self.feature_names)]}})
        return f"{CURL} -d '{row}'  # one value per column"

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:  # also takes an array
        return self.classifier.predict(self.inputs(self.checked(model_input)))

    def inputs(self, frame: pd.DataFrame):
        """What the classifier takes: numeric features as float32."""
        return frame.to_numpy(dtype=np.float32)

    def checked(self, model_input) -> pd.DataFrame:
        """The input as a frame of the model's columns, in its order; an MlflowException (HTTP 400) otherwise."""
        if not isinstance(model_input, pd.DataFrame):
            array = np.asarray(model_input)
            if array.ndim != 2 or array.shape[1] != len(self.feature_names):
                raise MlflowException.invalid_parameter_value(
                    f"Expected a table with the model's {len(self.feature_names)} columns, got an array of shape {array.shape}.")
            model_input = pd.DataFrame(array, columns=self.feature_names)
        missing = [name for name in self.feature_names if name not in model_input.columns]
        extra = [str(name) for name in model_input.columns if name not in self.feature_names]
        if missing or extra:
            problems = ([f"missing columns {missing}"] if missing else []) + ([f"unknown columns {extra}"] if extra else [])
            raise MlflowException.invalid_parameter_value(
                f"The input must have exactly the model's columns: {'; '.join(problems)}. "
                f"Its columns: {self.feature_names}.")
        frame = model_input[self.feature_names]
        problems = [problem for name in self.feature_names if (problem := self._column_problem(name, frame[name]))]
        if problems:
            raise MlflowException.invalid_parameter_value("Rows the model cannot score: " + "; ".join(problems) + ".")
        return frame

    def _column_problem(self, name: str, values: pd.Series) -> str | None:
        numbers = pd.to_numeric(values, errors="coerce")
        not_numbers = numbers.isna() & values.notna()
        if not_numbers.any():
            return f"column {name!r} holds non-numeric values in rows {_rows(not_numbers)}"
        values = numbers.to_numpy(dtype=float)
        not_finite = ~np.isfinite(values)
        if not_finite.any():
            return f"column {name!r} holds NaN, missing or infinite values in rows {_rows(pd.Series(not_finite))}"
        too_large = np.abs(values) > FLOAT32_MAX
        if too_large.any():
            return (f"column {name!r} holds values beyond float32's range (±{FLOAT32_MAX:.4g}), which the model computes "
                    f"in, in rows {_rows(pd.Series(too_large))}")
        return None


class TextClassifierModel(ClassifierModel):
    """One column of raw strings in (a text experiment): the classifier tokenizes them itself."""

    inputs_kind = "text"
    example_value = "Your text here."

    def inputs(self, frame: pd.DataFrame):
        return frame.iloc[:, 0].to_numpy(dtype=object).astype(str)

    def _column_problem(self, name: str, values: pd.Series) -> str | None:
        not_text = ~values.map(lambda value: isinstance(value, str))
        return f"column {name!r} must hold text, not in rows {_rows(not_text)}" if not_text.any() else None


class ImageClassifierModel(ClassifierModel):
    """One column, ``image``, of encoded images (PNG or JPEG; base64 text over HTTP, or bytes): each is decoded,
    resized and scaled as the data stage did (forgeml.data.images), so no caller flattens pixels by hand. An
    image that cannot be decoded, or claims more than MAX_PIXELS (a decompression bomb), is refused by row."""

    inputs_kind = "image"
    column = "image"

    def __init__(self, classifier=None, channels: int = 3, size: int = 32):
        super().__init__(classifier, [self.column])
        self.channels, self.size = channels, size

    def load_context(self, context) -> None:
        super().load_context(context)
        self.channels, self.size = int(context.model_config["channels"]), int(context.model_config["size"])

    def settings(self) -> dict:
        return {**super().settings(), "channels": self.channels, "size": self.size}

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Flat pixel rows as float32, what the classifier was trained on."""
        rows, problems = [], []
        for row, encoded in enumerate(frame[self.column]):
            try:
                pixels, _ = decode_image(io.BytesIO(_image_bytes(encoded)), f"in row {row}", self.channels, self.size)
            except (DataError, binascii.Error) as error:
                problems.append(str(error) if isinstance(error, DataError) else f"row {row} is not base64 ({error})")
                continue
            rows.append(resized(pixels, self.size).reshape(-1))
        if problems:
            raise MlflowException.invalid_parameter_value("Images the model cannot score: " + "; ".join(problems[:SHOWN_ROWS]))
        return np.stack(rows)

    def request_example(self) -> str:
        request = json.dumps({"dataframe_split": {"columns": [self.column], "data": [["%s"]]}})
        return f"printf '{request}' \"$(base64 -w0 photo.png)\" | {CURL} -d @-  # a PNG or JPEG"

    def _column_problem(self, name: str, values: pd.Series) -> str | None:
        not_encoded = ~values.map(lambda value: isinstance(value, (str, bytes)))
        return (f"column {name!r} must hold encoded images (PNG or JPEG, as base64 text or bytes), not in rows "
                f"{_rows(not_encoded)}" if not_encoded.any() else None)


SERVED_MODELS = {model.inputs_kind: model for model in (ClassifierModel, TextClassifierModel, ImageClassifierModel)}


def _image_bytes(encoded: str | bytes) -> bytes:
    return encoded if isinstance(encoded, bytes) else base64.b64decode(encoded, validate=True)


def _rows(bad: pd.Series) -> str:
    """The first SHOWN_ROWS positions where ``bad`` holds."""
    positions = np.flatnonzero(bad.to_numpy())
    return ", ".join(map(str, positions[:SHOWN_ROWS])) + (" ..." if len(positions) > SHOWN_ROWS else "")
