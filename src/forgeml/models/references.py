"""The reference models a user would pick instead of a neural network, fitted by scikit-learn on raw inputs.

``sklearn_logreg``: standardized features + logistic regression (tables, pixel tables);
``sklearn_hgb``: histogram gradient boosting, what users of tables reach for first (tables, pixel tables);
``tfidf_logreg``: word and bigram TF-IDF + logistic regression (texts).

Gradient boosting is scikit-learn's HistGradientBoostingClassifier rather than LightGBM: the same histogram
algorithm with no new dependency, and on these data sets no measured reason to add one (see benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sklearn_logreg(features: np.ndarray, labels: np.ndarray, options: dict[str, Any], seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed, **options)).fit(features, labels)


def sklearn_hgb(features: np.ndarray, labels: np.ndarray, options: dict[str, Any], seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, **options).fit(features, labels)


def tfidf_logreg(texts: np.ndarray, labels: np.ndarray, options: dict[str, Any], seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    vectorizer = TfidfVectorizer(ngram_range=tuple(options.get("ngram_range", (1, 2))), min_df=options.get("min_df", 2),
                                 sublinear_tf=True, max_features=options.get("max_features"))
    model = LogisticRegression(C=options.get("C", 4.0), max_iter=options.get("max_iter", 2000), random_state=seed)
    return make_pipeline(vectorizer, model).fit(list(texts), labels)


REFERENCE_FAMILIES = {"sklearn_logreg": sklearn_logreg, "sklearn_hgb": sklearn_hgb, "tfidf_logreg": tfidf_logreg}


def fit_reference(model_spec: dict[str, Any], inputs: np.ndarray, labels: np.ndarray, seed: int):
    """Fit ``model_spec["family"]`` with the rest of the spec as its options."""
    options = {key: value for key, value in model_spec.items() if key != "family"}
    return REFERENCE_FAMILIES[model_spec["family"]](inputs, labels, options, seed)
