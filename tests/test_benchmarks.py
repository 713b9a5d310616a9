"""The benchmark scripts run (tiny sizes): their numbers are for reports, so only their shape is checked."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_gpu_throughput_script_runs_on_the_cpu(tmp_path):
    subprocess.run(
        [sys.executable, "benchmarks/gpu_throughput.py", "--models", "mlp", "--loops-on", "mlp", "--steps", "2", "--epochs", "1", "--pairs", "1",
         "--no-compile", "--out", str(tmp_path)],
        cwd=REPO, check=True, capture_output=True,
    )
    mlp = json.loads((tmp_path / "gpu_throughput.json").read_text())["models"]["mlp"]
    assert "error" not in mlp
    assert mlp["precision"]["fp32"]["per_s_p50"] > 0 and mlp["precision"]["bf16"]["ratio_to_fp32_p50"] > 0
    assert mlp["faster_precision"] in ("fp32", "bf16") and mlp["loops"]["bare"]["ratio_to_forgeml_p50"] > 0
    assert "| mlp | 256 |" in (tmp_path / "gpu_throughput.md").read_text()


def test_table_augmentation_script_reports_both_variants(tmp_path):
    subprocess.run(
        [sys.executable, "benchmarks/table_augmentation.py", "--seeds", "0", "--datasets", "breast_cancer",
         "--epochs", "3", "--threads", "1", "--out", str(tmp_path)],
        cwd=REPO, check=True, capture_output=True,
    )
    report = json.loads((tmp_path / "table_augmentation.json").read_text())
    assert [(run["augmentation"], run["dataset"]) for run in report["runs"]] == [(True, "breast_cancer"), (False, "breast_cancer")]
    summary = report["summary"]["breast_cancer"]
    assert 0.0 < summary["accuracy_on"] <= 1.0 and 0.0 < summary["accuracy_off"] <= 1.0
    assert "| breast_cancer | on |" in (tmp_path / "table_augmentation.md").read_text()


def test_scale_script_measures_the_data_stage_of_a_table_and_an_image_folder(tmp_path):
    subprocess.run(
        [sys.executable, "benchmarks/scale.py", "--tables", "300", "--images", "40", "--side", "16", "--out", str(tmp_path)],
        cwd=REPO, check=True, capture_output=True,
    )
    report = json.loads((tmp_path / "scale.json").read_text())
    for kind, size in (("tables", 300), ("images", 40)):
        (run,) = report["results"][kind]
        assert run["size"] == size and run["peak_rss_mb"] > 100
        assert list(run["nodes"]) == ["ingest", "validate_data", "accept_data", "split", "validate_splits",
                                      "accept_splits"]
        assert all(node["seconds"] >= 0 and node["peak_rss_mb"] <= run["peak_rss_mb"] for node in run["nodes"].values())
    assert "| 300 |" in (tmp_path / "scale.md").read_text()
