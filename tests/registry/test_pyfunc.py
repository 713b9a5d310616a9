"""What a registered version takes: exactly its columns, finite numbers, text or encoded images; anything else is
refused by name."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from PIL import Image

from forgeml.registry.pyfunc import ClassifierModel, ImageClassifierModel, TextClassifierModel


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
    with pytest.raises(MlflowException) as refused:
        table_model.predict(None, rows)
    assert message in refused.value.message
    assert refused.value.get_http_status_code() == 400  # what `mlflow models serve` answers


def test_a_text_model_takes_strings_only():
    model = TextClassifierModel(Echo(), ["text"])
    assert model.predict(None, pd.DataFrame({"text": ["ok 👍", " é "]})).tolist() == [4, 3]
    with pytest.raises(MlflowException, match=r"column 'text' must hold text, not in rows 1"):
        model.predict(None, pd.DataFrame({"text": ["fine", None]}))


class Pixels:
    def predict(self, inputs):
        return inputs  # what the classifier is given


def encoded(image, format: str) -> str:
    stream = io.BytesIO()
    image.save(stream, format=format)
    return base64.b64encode(stream.getvalue()).decode()


def test_an_image_model_takes_encoded_images_and_sees_the_pixels_the_data_stage_made():
    """A PNG of a served_input row decodes to that row exactly; a JPEG or a photo of another size and mode is
    resized and converted as the data stage does."""
    from forgeml.data.images import resized
    from forgeml.modality import modality_of

    modality = modality_of({"name": "shapes", "target": "label", "modality": "image", "image": {"channels": 1, "size": 4}})
    values = np.random.default_rng(0).integers(0, 256, (3, 16), dtype=np.uint8)  # 8-bit, as ingested
    frame = pd.DataFrame({"pixels": [row.tobytes() for row in values], "label": [0, 1, 0]})
    rows = values.astype(np.float32) / 255
    model = modality.serving_model(Pixels(), frame)
    served = modality.served_input(frame)
    assert list(served.columns) == ["image"]
    np.testing.assert_array_equal(model.predict(None, served), rows)

    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (12, 10, 3), dtype=np.uint8), mode="RGB")
    grey = np.asarray(photo.convert("L"), dtype=np.float32)[:, :, None] / 255
    for format in ("PNG", "JPEG"):
        taken = model.predict(None, pd.DataFrame({"image": [encoded(photo, format)]}))
        assert taken.shape == (1, 16)
        if format == "PNG":  # lossless: exactly the data stage's resize
            np.testing.assert_array_equal(taken[0], resized(grey, 4).reshape(-1))
    raw = io.BytesIO()
    photo.save(raw, format="PNG")
    assert model.predict(None, pd.DataFrame({"image": [raw.getvalue()]})).shape == (1, 16)  # bytes, in-process


def test_an_image_model_refuses_what_it_cannot_decode_by_row_with_http_400():
    model = ImageClassifierModel(Pixels(), channels=3, size=8)
    noise = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    png = encoded(Image.fromarray(noise, mode="RGB"), "PNG")
    truncated = base64.b64encode(base64.b64decode(png)[:len(base64.b64decode(png)) // 2]).decode()
    stream = io.BytesIO()
    Image.new("L", (8000, 7000)).save(stream, format="PNG")  # 56M pixels in a few dozen KB
    bomb = base64.b64encode(stream.getvalue()).decode()
    cases = {
        "truncated": (truncated, "Cannot read the image in row 1"),
        "not base64": ("not base64!", "row 1 is not base64"),
        "not an image": (base64.b64encode(b"plain text").decode(), "Cannot read the image in row 1"),
        "bomb": (bomb, "The image in row 1 claims 8000x7000 pixels"),
        "a number": (3.0, "column 'image' must hold encoded images (PNG or JPEG, as base64 text or bytes), not in rows 1"),
    }
    for what, (value, message) in cases.items():
        with pytest.raises(MlflowException) as refused:
            model.predict(None, pd.DataFrame({"image": [png, value]}))
        assert message in refused.value.message, what
        assert refused.value.get_http_status_code() == 400


def test_a_model_card_shows_how_to_ask_the_served_model():
    request = ImageClassifierModel(Pixels(), channels=3, size=8).request_example()
    assert request.startswith("printf '{\"dataframe_split\": {\"columns\": [\"image\"]")
    assert "base64 -w0 photo.png" in request and "http://127.0.0.1:5002/invocations" in request
    row = json.loads(TextClassifierModel(Echo(), ["review"]).request_example().split("-d '")[1].split("'")[0])
    assert row == {"dataframe_split": {"columns": ["review"], "data": [["Your text here."]]}}
