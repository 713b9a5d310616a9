"""The benchmark scripts run (tiny sizes): their numbers are for reports, so only their shape is checked."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_gpu_throughput_script_runs_on_the_cpu(tmp_path):
    subprocess.run(
        [sys.executable, "benchmarks/gpu_throughput.py", "--steps", "2", "--batch-size", "8", "--pairs", "1", "--out", str(tmp_path)],
        cwd=REPO, check=True, capture_output=True,
    )
    report = json.loads((tmp_path / "gpu_throughput.json").read_text())
    assert report["fp32_images_per_s"] > 0 and report["bf16_images_per_s"] > 0 and report["bf16_speedup"] > 0
    assert "bf16 / fp32" in (tmp_path / "gpu_throughput.md").read_text()
