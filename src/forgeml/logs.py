"""Logs as their reader sees them (conf/logging.yml names these): Kedro's Rich console on a terminal; in a file
or a pipe (cron, systemd, Airflow), plain records of one line each, since Rich wraps its columns at 80
characters there and a message takes several lines. ``FORGEML_PROGRESS`` decides, as for progress bars."""

from __future__ import annotations

import logging
import sys

from kedro.logging import RichHandler

from forgeml import progress

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Handler(logging.Handler):
    """Kedro's RichHandler where progress shows as bars, else one plain line per record on stderr (whichever
    stream is stderr when the record comes, as Rich's console does)."""

    def __init__(self, level: int = logging.NOTSET, **rich_options) -> None:
        super().__init__(level)
        self.rich = RichHandler(**rich_options) if progress.style() == "bars" else None
        self.addFilter(LibraryInfo())  # Kedro refuses custom filters in the logging config ('()' keys)
        self.setFormatter(logging.Formatter(PLAIN_FORMAT, "%Y-%m-%d %H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        if self.rich is not None:
            self.rich.handle(record)
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class LibraryInfo(logging.Filter):
    """Drops the INFO records of libraries that set their own level at import, over the logging config
    (kedro-mlflow sets INFO): their warnings still pass."""

    LIBRARIES = ("kedro_mlflow",)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.partition(".")[0] not in self.LIBRARIES
