"""Data validation with Great Expectations: declared suites plus checks the platform always runs."""

from forgeml.validation.expectations import (
    check_passed,
    suggest_suite,
    validate_images,
    validate_splits,
    validate_table,
    validate_texts,
)

__all__ = ["check_passed", "suggest_suite", "validate_images", "validate_splits", "validate_table", "validate_texts"]
