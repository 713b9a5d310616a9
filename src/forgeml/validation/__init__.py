"""Data validation with Great Expectations: declared suites plus checks the platform always runs."""

from forgeml.validation.expectations import (
    DOCS_PATH,
    add_duplicate_counts,
    check_passed,
    suggest_labels,
    suggest_suite,
    suite_for,
    validate_images,
    validate_splits,
    validate_table,
    validate_texts,
)

__all__ = [
    "DOCS_PATH", "add_duplicate_counts", "check_passed", "suggest_labels", "suggest_suite", "suite_for", "validate_images", "validate_splits", "validate_table", "validate_texts",
]
