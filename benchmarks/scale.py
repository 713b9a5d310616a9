"""The data stage as the data grows: peak memory and seconds per node, for synthetic tables and image folders.

Each size gets a project folder of its own (this project's ``conf/`` and ``pyproject.toml``, the synthetic
data under ``data/01_raw/``, an experiment drafted by ``forgeml init`` as a user would) and a process of its
own, which runs the ``data`` pipeline. The process's peak resident memory comes from the kernel when it ends
(``os.wait4``); a Kedro hook in it notes each node's seconds (loading its inputs and saving its outputs
included) and the peak so far when it is saved, so the report shows which node makes the peak. Tables have 30 float32 features and 3 classes (a Parquet source);
image folders hold RGB PNGs of ``--side`` px (noise over a class colour, 4 classes).

The issue's bars (#31): at most 1.5 GB at 1M rows and at 4,000 images, under 25% growth from the smallest size
to the largest, seconds growing no worse than linearly. Writes benchmarks/reports/scale.{json,md}.

    python benchmarks/scale.py [--tables 100000,1000000,5000000] [--images 1000,4000,16000] [--side 128]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FEATURES, CLASSES = 30, 3
IMAGE_CLASSES = ("amber", "blue", "green", "red")
COLOURS = {"amber": (230, 160, 20), "blue": (30, 60, 220), "green": (40, 190, 70), "red": (210, 30, 40)}


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    """A Parquet table of ``rows`` rows, written in slices so that making it takes little memory itself."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    columns = [f"f{i}" for i in range(FEATURES)]
    schema = pa.schema([*(pa.field(name, pa.float32()) for name in columns), pa.field("label", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        for begin in range(0, rows, 100_000):
            features = rng.normal(size=(min(100_000, rows - begin), FEATURES)).astype(np.float32)
            labels = (features[:, 0] + features[:, 1] > 0).astype(np.int64) + (features[:, 2] > 1)
            writer.write_table(pa.Table.from_arrays([*features.T, labels], schema=schema))


def write_images(folder: Path, count: int, side: int, seed: int = 0) -> None:
    """``count`` RGB PNGs of ``side`` px, one sub-folder per class: noise over the class's colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in IMAGE_CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = IMAGE_CLASSES[i % len(IMAGE_CLASSES)]
        pixels = np.clip(np.array(COLOURS[name]) + rng.normal(0, 40, size=(side, side, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / name / f"{i:06d}.png")


def make_project(root: Path) -> Path:
    """A project folder with this one's configuration and none of its data or runs."""
    project = root / "project"
    project.mkdir()
    shutil.copy(REPO / "pyproject.toml", project)
    (project / "src").mkdir()  # where pyproject.toml says the code is; Kedro imports it as installed
    shutil.copytree(REPO / "conf", project / "conf", ignore=shutil.ignore_patterns("experiments"))
    (project / "conf" / "experiments").mkdir()
    (project / "data" / "01_raw").mkdir(parents=True)
    return project


def init_experiment(project: Path, name: str, data_options: list[str]) -> None:
    """The experiment ``forgeml init`` drafts from the data, as a user would make it."""
    subprocess.run(
        ["forgeml", "init", name, *data_options, "--intended-use", "scale benchmark", "--limitations", "synthetic data"],
        cwd=project, check=True, capture_output=True, text=True,
    )


def measure(project: Path, experiment: str) -> dict:
    """The data stage of ``experiment`` in its own process: its peak RSS, wall seconds and per-node seconds."""
    nodes_file = project / "nodes.json"
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--stage-in", str(project), experiment, str(nodes_file)],
                             cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"The data stage of {experiment} failed:\n{child.stderr.read()[-3000:]}")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1),
            "nodes": json.loads(nodes_file.read_text())}


def run_stage(project: Path, experiment: str, nodes_file: Path) -> None:
    """In the child: the ``data`` pipeline through a Kedro session, a hook noting each node's seconds and peak RSS."""
    import resource

    from kedro.framework.hooks import hook_impl
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from forgeml.experiments import EXPERIMENT_VARIABLE

    class NodeClock:
        """Each node's seconds from its first input's load to its last output's save, and the peak RSS then."""

        def __init__(self):
            self.started, self.nodes = {}, {}

        @hook_impl
        def before_dataset_loaded(self, node):
            self.started.setdefault(node.name, time.perf_counter())

        @hook_impl
        def after_dataset_saved(self, node):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            seconds = time.perf_counter() - self.started[node.name]
            self.nodes[node.name] = {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}

    os.environ[EXPERIMENT_VARIABLE] = experiment
    bootstrap_project(project)
    clock = NodeClock()
    with KedroSession.create(project) as session:
        session._hook_manager.register(clock)  # Kedro registers hooks from settings only; this one is the benchmark's
        session.run(pipeline_names=["data"])
    nodes_file.write_text(json.dumps(clock.nodes))


def growth(results: list[dict]) -> dict:
    """From the smallest size to the largest: peak RSS growth and seconds per item, smallest against largest."""
    small, large = results[0], results[-1]
    return {"rss_growth": round(large["peak_rss_mb"] / small["peak_rss_mb"] - 1, 3),
            "seconds_per_item_ratio": round((large["seconds"] / large["size"]) / (small["seconds"] / small["size"]), 3)}


def report(results: dict, environment: dict) -> str:
    lines = ["# The data stage as the data grows", "",
             f"CPU: {environment['cpu']} ({', '.join(environment['instruction_sets'])}), {environment['cores']} cores. "
             "Peak RSS of the process that ran the `data` pipeline; seconds from its start to its end "
             "(imports and the MLflow store included).", ""]
    for kind, runs in results.items():
        if not runs:
            continue
        node_names = list(runs[0]["nodes"])
        lines += [f"## {kind}", "", "| size | peak RSS MB | seconds | " + " | ".join(node_names) + " |",
                  "|---:|---:|---:|" + "---:|" * len(node_names)]
        for run in runs:
            cells = [f"{run['nodes'][name]['seconds']} s, {run['nodes'][name]['peak_rss_mb']:.0f}" for name in node_names]
            lines.append(f"| {run['size']:,} | {run['peak_rss_mb']:.0f} | {run['seconds']} | " + " | ".join(cells) + " |")
        change = growth(runs)
        lines += ["", f"From {runs[0]['size']:,} to {runs[-1]['size']:,}: peak RSS {change['rss_growth']:+.0%}, "
                      f"seconds per item x{change['seconds_per_item_ratio']}. Node cells: seconds, peak RSS MB so far.", ""]
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=sizes, default=[100_000, 1_000_000, 5_000_000], help="row counts")
    parser.add_argument("--images", type=sizes, default=[1_000, 4_000, 16_000], help="image counts")
    parser.add_argument("--side", type=int, default=128, help="image side in pixels")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "reports")
    parser.add_argument("--stage-in", nargs=3, metavar=("PROJECT", "EXPERIMENT", "NODES_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_in:
        project, experiment, nodes_file = args.stage_in
        return run_stage(Path(project), experiment, Path(nodes_file))

    from forgeml.evaluate.footprint import measurement_environment

    results = {"tables": [], "images": []}
    for kind, counts in (("tables", args.tables), ("images", args.images)):
        for size in counts:
            with tempfile.TemporaryDirectory(prefix="forgeml-scale-") as root:
                project = make_project(Path(root))
                name = f"scale_{kind}_{size}"
                if kind == "tables":
                    write_table(project / "data" / "01_raw" / f"{name}.parquet", size)
                    init_experiment(project, name, ["--table", f"data/01_raw/{name}.parquet", "--target", "label"])
                else:
                    write_images(project / "data" / "01_raw" / name, size, args.side)
                    init_experiment(project, name, ["--images", f"data/01_raw/{name}", "--size", str(args.side)])
                run = {"size": size, **measure(project, name)}
            results[kind].append(run)
            print(f"{kind} {size:,}: {run['peak_rss_mb']:.0f} MB peak, {run['seconds']} s", flush=True)
    environment = measurement_environment(threads=os.cpu_count())
    summary = {kind: growth(runs) for kind, runs in results.items() if runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps({"environment": environment, "results": results, "growth": summary}, indent=2))
    (args.out / "scale.md").write_text(report(results, environment))
    print(report(results, environment))


if __name__ == "__main__":
    main()
