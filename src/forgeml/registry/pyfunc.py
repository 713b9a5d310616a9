"""Every candidate is stored as one MLflow pyfunc: a DataFrame of raw features in, labels out."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """Wraps any classifier with ``predict`` (a TorchClassifier, a TextClassifier or a scikit-learn estimator)."""

    def __init__(self, classifier, feature_names: list[str], text: bool = False):
        self.classifier = classifier
        self.feature_names = list(feature_names)
        self.text = text  # one column of raw strings (a text experiment), else numeric features

    def predict(self, context, model_input, params=None) -> np.ndarray:
        if isinstance(model_input, pd.DataFrame):
            model_input = model_input[self.feature_names]
        if self.text:
            return self.classifier.predict(np.asarray(model_input, dtype=object).reshape(-1).astype(str))
        return self.classifier.predict(np.asarray(model_input, dtype=np.float32))
