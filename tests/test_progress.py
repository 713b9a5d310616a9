"""Progress as its reader sees it: bars on a terminal, one line per finished piece of work under a scheduler."""

import logging

import pytest

from forgeml import progress
from forgeml.errors import ConfigError


@pytest.mark.parametrize("setting, terminal, expected", [
    (None, True, "bars"), (None, False, "lines"), ("quiet", True, "quiet"), ("bars", False, "bars")])
def test_the_style_follows_the_terminal_unless_set(monkeypatch, setting, terminal, expected):
    if setting is None:
        monkeypatch.delenv("FORGEML_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("FORGEML_PROGRESS", setting)
    monkeypatch.setattr("sys.stderr.isatty", lambda: terminal)
    assert progress.style() == expected


def test_an_unknown_style_names_the_variable(monkeypatch):
    monkeypatch.setenv("FORGEML_PROGRESS", "loud")
    with pytest.raises(ConfigError, match="FORGEML_PROGRESS is 'loud'"):
        progress.style()


@pytest.mark.parametrize("setting, shown, bar_shown, line_logged", [
    ("bars", True, True, False), ("bars", False, False, False), ("lines", True, False, True), ("quiet", True, False, False)])
def test_a_bar_or_a_line_never_both(monkeypatch, caplog, setting, shown, bar_shown, line_logged):
    monkeypatch.setenv("FORGEML_PROGRESS", setting)
    logger = logging.getLogger("forgeml.test")
    with caplog.at_level(logging.INFO, logger="forgeml.test"):
        bar = progress.bar(range(3), shown=shown)
        assert (not bar.disable) == bar_shown  # read before the loop: a closed bar counts as disabled
        assert list(bar) == [0, 1, 2]
        progress.done(logger, "finished %s", "work")
    assert ("finished work" in caplog.text) == line_logged
