"""The `forgeml` command as a user runs it: a real process in a scratch folder."""

from __future__ import annotations

import subprocess

import pytest

from tests.pipelines.conftest import project_env


@pytest.mark.parametrize(("args", "variables", "named"), [
    (["promote", "--model", "../../x", "--version", "1", "--reason", "r"], {}, "--model"),
    (["verify", "--model", "a/b"], {}, "--model"),
    (["retrain"], {"FORGEML_EXPERIMENT": "../base"}, "--experiment"),
], ids=["promote", "verify", "retrain-from-environment"])
def test_a_name_that_would_leave_the_project_is_refused_before_anything_is_written(tmp_path, args, variables, named):
    project = tmp_path / "deep" / "project"
    project.mkdir(parents=True)
    result = subprocess.run(["forgeml", *args], cwd=project, env={**project_env(), **variables}, capture_output=True,
                            text=True)
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{named}'" in result.stderr and "which is not an experiment name" in result.stderr
    assert [path.name for path in tmp_path.rglob("*")] == ["deep", "project"]  # no folder, lock or store anywhere
