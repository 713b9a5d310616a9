"""`make viz`: kedro-viz serves the project's pipelines, one DAG for every modality, and a browser shows it."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from tests.pipelines.conftest import REPO
from tests.helpers import CHROMIUM, chromium, serving

pytest.importorskip("kedro_viz", reason="make test installs the viz extra")


def registered_port() -> int:
    """A free port below 49152: kedro-viz refuses the dynamic range, where the OS's own free ports are."""
    import random
    import socket

    for port in random.Random().sample(range(40000, 49000), 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port between 40000 and 49000")


@pytest.mark.skipif(CHROMIUM is None, reason="make test installs Chromium (Debian package chromium)")
def test_make_viz_shows_every_stage_of_the_pipeline_in_a_browser(tmp_path):
    port = registered_port()
    command = ["make", "--no-print-directory", "viz", f"VIZ_PORT={port}"]
    with serving(command, REPO, f"http://127.0.0.1:{port}/api/main", timeout=180):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=60) as response:
            graph = json.loads(response.read())
        dom = chromium("--dump-dom", f"--screenshot={tmp_path / 'viz.png'}", f"http://127.0.0.1:{port}/").stdout
    nodes = {node["name"] for node in graph["nodes"] if node["type"] == "task"}
    for node in ("ingest", "validate_data", "accept_splits", "tune", "train_candidates", "compress_candidates",
                 "evaluate_candidates", "promote_challenger"):
        assert node in nodes, sorted(nodes)
    assert not any("text" in name or "image" in name for name in nodes), nodes  # one DAG, no twin per kind of data
    assert "Train Candidates" in dom or "train_candidates" in dom  # the page rendered the DAG's nodes
    assert (tmp_path / "viz.png").stat().st_size > 20_000
    reports = REPO / "data/08_reporting/viz"  # for a reviewer of the test run; data/ is ignored by git
    reports.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "viz.png", reports / "viz.png")
