"""The README, docs/ and benchmarks/README.md as a reader pastes them: every link and anchor resolves, every
`make` target exists, every `forgeml` and `kedro run` command names a real subcommand and real options, every
project path they name exists, and the README stays short enough to read."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from forgeml.cli import cli as kedro_commands
from forgeml.cli import main as forgeml_command

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "benchmarks/README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PROJECT_PATH = re.compile(r"^(?:src|conf|docs|benchmarks|airflow|tests)/[\w./-]*$")
# paths the docs name that a run or the user creates, and the folders whose files a run writes
CREATED_LATER = {"benchmarks/reports/", "conf/local/credentials.yml"}


def code(page: Path) -> list[str]:
    """Every fenced block and inline code span of ``page``, one command per line."""
    text = page.read_text(encoding="utf-8")
    blocks = FENCE.findall(text)
    spans = INLINE.findall(FENCE.sub("", text))
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return lines + spans


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def words_after(line: str, command: str) -> list[str] | None:
    """The words that follow ``command`` on a shell line (comments and substitutions dropped), or None."""
    line = re.sub(r"\$\(.*?\)'?\)?\"?", "", line.split(" # ")[0])
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word in (command, f".venv/bin/{command}") or word.endswith(f"/.venv/bin/{command}"):
            return words[index + 1:]
    return None


def options_of(command: click.Command) -> set[str]:
    return {name for parameter in command.params for name in (*parameter.opts, *parameter.secondary_opts)}


def resolve(group: click.Group, words: list[str]) -> tuple[click.Command, list[str]]:
    command = group
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command, words = command.commands[words[0]], words[1:]
    return command, words


def commands(command: str) -> list[tuple[Path, list[str]]]:
    found = []
    for page in PAGES:
        for line in code(page):
            words = words_after(line, command)
            if words:
                found.append((page, words))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_link_and_anchor_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: {target} names no heading of {linked.name}"


def test_every_make_target_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = {word for page in PAGES for line in code(page) for word in re.findall(r"(?:^|[;&(]\s*)make ([a-z][\w-]*)", line)}
    assert named, "no make command found: the parser is broken"
    assert named <= targets, f"make targets the docs name that the Makefile lacks: {sorted(named - targets)}"


def test_every_forgeml_command_and_option_exists():
    found = commands("forgeml")
    assert len(found) >= 8, "too few forgeml commands found: the parser is broken"
    for page, words in found:
        command, rest = resolve(forgeml_command, words)
        assert not isinstance(command, click.Group), f"{page.name}: `forgeml {' '.join(words)}` names no subcommand"
        unknown = {word.split("=")[0] for word in rest if word.startswith("--")} - options_of(command)
        assert not unknown, f"{page.name}: `forgeml {' '.join(words)}`: {command.name} has no {sorted(unknown)}"


def test_every_kedro_run_option_exists():
    found = [(page, words[1:]) for page, words in commands("kedro") if words[:1] == ["run"]]
    assert found, "no kedro run command found: the parser is broken"
    known = options_of(kedro_commands.commands["run"])
    for page, words in found:
        unknown = {word.split("=")[0] for word in words if word.startswith("--")} - known
        assert not unknown, f"{page.name}: `kedro run {' '.join(words)}`: no {sorted(unknown)}"


def test_every_project_path_named_exists():
    named = {span for page in PAGES for span in code(page) if PROJECT_PATH.match(span) and not re.search("[A-Z]", span)}
    assert len(named) >= 10, "too few paths found: the parser is broken"
    missing = sorted(
        path
        for path in named
        if not path.startswith(tuple(CREATED_LATER)) and not (REPO / path.rstrip("/")).exists()
    )
    assert not missing, f"paths the docs name that do not exist: {missing}"


def test_the_readme_is_short_and_its_details_are_linked():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    assert {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")} <= linked, "a docs page no one can find"
