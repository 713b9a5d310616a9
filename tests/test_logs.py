"""Log records as their reader sees them: Rich on a terminal, one plain line each in a file."""

import logging

import pytest

from forgeml import logs


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_in_a_file_a_long_record_is_one_plain_line(monkeypatch, capsys):
    monkeypatch.setenv("FORGEML_PROGRESS", "lines")
    handler = logs.Handler()
    assert handler.rich is None
    handler.handle(record("kedro.runner", logging.INFO, "Completed node: " + "x" * 150))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("INFO kedro.runner: Completed node: " + "x" * 150)


def test_on_a_terminal_records_go_to_kedros_rich_handler(monkeypatch):
    monkeypatch.setenv("FORGEML_PROGRESS", "bars")
    assert isinstance(logs.Handler(rich_tracebacks=True).rich, logs.RichHandler)


@pytest.mark.parametrize(("name", "level", "kept"), [
    ("kedro_mlflow.framework.hooks", logging.INFO, False), ("kedro_mlflow.config", logging.WARNING, True),
    ("kedro.runner", logging.INFO, True), ("forgeml.training.loop", logging.INFO, True)])
def test_only_the_info_of_libraries_that_set_their_own_level_is_dropped(monkeypatch, capsys, name, level, kept):
    monkeypatch.setenv("FORGEML_PROGRESS", "lines")
    logs.Handler().handle(record(name, level, "a message"))
    assert ("a message" in capsys.readouterr().err) == kept
