"""Checks of single settings that modules in several layers share (so that none imports another for them)."""

from __future__ import annotations

from forgeml.errors import ConfigError


def fraction(value, what: str) -> float:
    """``value`` as a float strictly between 0 and 1, or a ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{what} must be a number strictly between 0 and 1, not {value!r}.")
    return float(value)
