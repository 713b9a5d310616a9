"""Progress on long work, as its reader sees it: bars on a terminal; under a scheduler (cron, Airflow, a pipe
to a file), where a bar's carriage returns would fill the log, no bars but one line when a piece of work ends.

``FORGEML_PROGRESS`` overrides the guess: ``bars`` (always), ``lines`` (never bars) or ``quiet`` (neither)."""

from __future__ import annotations

import logging
import os
import sys

from tqdm.auto import tqdm

from forgeml.errors import ConfigError

STYLES = ("bars", "lines", "quiet")


def style() -> str:
    """``bars`` on a terminal, else ``lines``, unless ``FORGEML_PROGRESS`` says otherwise."""
    chosen = os.environ.get("FORGEML_PROGRESS") or ("bars" if sys.stderr.isatty() else "lines")
    if chosen not in STYLES:
        raise ConfigError(f"FORGEML_PROGRESS is {chosen!r}; use one of {', '.join(STYLES)}.")
    return chosen


def bar(iterable=None, *, shown: bool = True, **options) -> tqdm:
    """A tqdm bar that shows only where ``shown`` and the style is ``bars``."""
    return tqdm(iterable, disable=not shown or style() != "bars", **options)


def done(logger: logging.Logger, message: str, *args) -> None:
    """One line for finished work, where no bar showed it (``lines``)."""
    if style() == "lines":
        logger.info(message, *args)
