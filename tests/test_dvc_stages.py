"""forgeml.dvc_stages: dvc.yaml written from the pipelines; reproduce on a real two-stage DVC repo: what runs, what
is committed, what a failure leaves."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from forgeml.dvc_stages import render_dvc_yaml, reproduce, write_dvc_yaml
from tests.pipelines.conftest import make_project


def test_dvc_yaml_is_written_only_when_the_pipelines_catalog_or_experiments_changed(tmp_path):
    make_project(tmp_path)
    written = (tmp_path / "dvc.yaml").stat().st_mtime_ns
    assert not write_dvc_yaml(tmp_path)  # the committed one is what the pipelines generate: left as it is
    assert (tmp_path / "dvc.yaml").stat().st_mtime_ns == written
    (tmp_path / "conf/experiments/breast_cancer/catalog.yml").write_text(  # the bundled table moved to a file
        yaml.safe_dump({"source": {"type": "pandas.CSVDataset", "filepath": "data/01_raw/tumours_2027.csv"}}))
    assert write_dvc_yaml(tmp_path)
    assert (tmp_path / "dvc.yaml").read_text() == render_dvc_yaml(tmp_path)
    assert "data/01_raw/tumours_2027.csv" in yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"][
        "breast_cancer-data"]["deps"]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git and DVC repo, the working directory, whose stage ``count`` counts the words of words.txt and
    ``report`` reads the count."""
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "words.txt").write_text("a\nb\n")
    stages = {
        "count": {"cmd": "kedro run --pipelines count", "deps": ["words.txt"], "outs": ["count.txt"]},
        "report": {"cmd": "kedro run --pipelines report", "deps": ["count.txt"], "outs": ["report.txt"]},
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    return tmp_path


def commands_in(repo, fail: str | None = None):
    """A run_command that does each stage's work in this process, and records the commands it was given."""
    given = []

    def run_command(command: str) -> None:
        given.append(command)
        if command.endswith(fail or "-"):
            raise RuntimeError(f"{fail} broke")
        if command.endswith("count"):
            (repo / "count.txt").write_text(str(len((repo / "words.txt").read_text().split())))
        else:
            (repo / "report.txt").write_text(f"{(repo / 'count.txt').read_text()} words")

    return run_command, given


def stale(repo) -> set[str]:
    from dvc.repo import Repo

    return set(Repo().status())


def test_runs_stale_stages_in_order_and_commits_them_as_dvc_repro_would(repo):
    run_command, given = commands_in(repo)

    assert reproduce("report", run_command) == ["count", "report"]
    assert given == ["kedro run --pipelines count", "kedro run --pipelines report"]
    assert (repo / "report.txt").read_text() == "2 words"
    assert stale(repo) == set()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"count", "report"} and lock["report"]["outs"][0]["path"] == "report.txt"
    assert "didn't change" in subprocess.run([sys.executable, "-m", "dvc", "repro", "report"], cwd=repo, capture_output=True, text=True).stdout

    (repo / "words.txt").write_text("a\nb\nc\n")
    assert reproduce("report", run_command) == ["count", "report"]
    assert (repo / "report.txt").read_text() == "3 words"
    assert reproduce("report", run_command) == []


def test_a_failed_stage_keeps_the_ones_before_it_committed_and_itself_stale(repo):
    run_command, given = commands_in(repo, fail="report")

    with pytest.raises(RuntimeError, match="report broke"):
        reproduce("report", run_command)

    assert given == ["kedro run --pipelines count", "kedro run --pipelines report"]
    assert (repo / "count.txt").read_text() == "2"
    assert stale(repo) == {"report"}
    assert set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]) == {"count"}


def test_a_failed_stage_leaves_its_last_good_outputs_in_place(repo):
    """New data that breaks the stage (as a failed validation does): the previous outputs stay, not what the
    failed command half wrote."""
    assert reproduce("report", commands_in(repo)[0]) == ["count", "report"]
    (repo / "words.txt").write_text("a\nb\nc\n")

    def half_writes_then_fails(command: str) -> None:
        (repo / "count.txt").write_text("half")
        raise RuntimeError("validation failed")

    with pytest.raises(RuntimeError, match="validation failed"):
        reproduce("report", half_writes_then_fails)
    assert (repo / "count.txt").read_text() == "2" and (repo / "report.txt").read_text() == "2 words"
    assert sorted(path.name for path in repo.glob("*.txt*")) == ["count.txt", "report.txt", "words.txt"]  # none aside
    assert stale(repo) == {"count"}  # report still matches the count it was made from


def test_an_output_left_aside_by_a_killed_run_is_put_back_before_the_next(repo):
    from forgeml.dvc_stages import PREVIOUS, outs_set_aside

    (repo / f"count.txt{PREVIOUS}").write_text("2")  # the last good output, set aside when the run was killed
    (repo / "count.txt").write_text("half")
    with pytest.raises(RuntimeError), outs_set_aside([repo / "count.txt"]):
        assert not (repo / "count.txt").exists()
        raise RuntimeError("fails again")
    assert (repo / "count.txt").read_text() == "2" and not (repo / f"count.txt{PREVIOUS}").exists()


@pytest.mark.parametrize("cache_type", ["hardlink", "symlink"])
def test_outputs_linked_to_the_cache_are_set_aside_without_touching_the_cache(repo, cache_type):
    """With a link cache, an output is the cache's own file: a stage writing over it in place would change the
    cached version too. Set aside, the link moves and the stage writes a new file; a failure puts the link back."""
    import hashlib

    subprocess.run([sys.executable, "-m", "dvc", "config", "cache.type", cache_type], cwd=repo, check=True)
    assert reproduce("report", commands_in(repo)[0]) == ["count", "report"]
    digest = hashlib.md5(b"2").hexdigest()
    cached = repo / ".dvc/cache/files/md5" / digest[:2] / digest[2:]
    linked = (repo / "count.txt").is_symlink() if cache_type == "symlink" else \
        (repo / "count.txt").stat().st_ino == cached.stat().st_ino
    assert linked  # the output is the cache's file, as DVC checked it out

    (repo / "words.txt").write_text("a\nb\nc\n")

    def half_writes_then_fails(command: str) -> None:
        (repo / "count.txt").write_text("half")
        raise RuntimeError("validation failed")

    with pytest.raises(RuntimeError, match="validation failed"):
        reproduce("report", half_writes_then_fails)
    assert (repo / "count.txt").read_text() == "2" and cached.read_text() == "2"

    assert reproduce("report", commands_in(repo)[0]) == ["count", "report"]
    assert (repo / "report.txt").read_text() == "3 words" and cached.read_text() == "2"  # the old version still cached
