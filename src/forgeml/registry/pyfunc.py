"""Every candidate is stored as one MLflow pyfunc: a DataFrame of raw features in, labels out."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """Wraps any classifier with ``predict`` (a TorchClassifier or a scikit-learn estimator)."""

    def __init__(self, classifier, feature_names: list[str]):
        self.classifier = classifier
        self.feature_names = list(feature_names)

    def predict(self, context, model_input, params=None) -> np.ndarray:
        if isinstance(model_input, pd.DataFrame):
            model_input = model_input[self.feature_names]
        return self.classifier.predict(np.asarray(model_input, dtype=np.float32))
