"""Model size and CPU latency, measured the same way for every candidate.

Latency on these shared machines drifts by more than the differences being measured, so models
are compared by alternating them call by call in one loop: a slow spell hits both alike, and the
per-pair ratio stays stable where block timings do not.
"""

from __future__ import annotations

import io
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

INSTRUCTION_SETS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "avx_vnni", "fma")


def cpu() -> tuple[str, int, set[str]]:
    """This machine's CPU: its name, logical cores and instruction-set flags. On Linux, as /proc/cpuinfo lists
    them; elsewhere from py-cpuinfo, which starts a process that probes CPUID and times the clock (a second a
    call: every evaluate stage would pay it)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
        return info.get("brand_raw", platform.processor()), info.get("count", os.cpu_count()), set(info.get("flags", []))
    first = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in first.items()}
    return fields.get("model name", platform.machine()), os.cpu_count(), set(fields.get("flags", "").split())


def measurement_environment(threads: int) -> dict[str, Any]:
    """The machine latencies were measured on: without it, a latency ratio means little."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    cpu_name, cores, flags = cpu()

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu_name, "cores": cores,
        "instruction_sets": [name for name in INSTRUCTION_SETS if name in flags], "threads": threads,
        "torch": torch.__version__, "neural_compressor": installed("neural-compressor-pt"),
        "torch_pruning": installed("torch-pruning"), "python": platform.python_version(),
    }


def serialized_size(model) -> int:
    """Bytes of the model as torch.save writes it (works for torch modules and scikit-learn objects).

    With the newest pickle protocol: torch's default, protocol 2, writes raw bytes (an exported INT8
    program) as latin-1 text, up to twice their size, which no saved model pays.
    """
    import pickle

    import torch

    buffer = io.BytesIO()
    torch.save(model, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getbuffer().nbytes


@contextmanager
def fixed_threads(threads: int):
    """Pin torch's intra-op threads (and BLAS through threadpoolctl) for a measurement, then restore.

    A compiled model (INT8) compiles again whenever it is called on another thread count (its kernels are built for
    one), so a model that is both scored and timed is best scored under the same pin."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _summary(milliseconds: np.ndarray) -> dict[str, float]:
    return {"p50_ms": float(np.median(milliseconds)), "p95_ms": float(np.percentile(milliseconds, 95))}


def measure_latency_side_by_side(
    predicts: Sequence[Callable[[np.ndarray], object]], inputs: np.ndarray, pairs: int = 15, warmup: int = 5,
    threads: int = 1,
) -> list[dict[str, float]]:
    """Time each of ``predicts`` on ``inputs``, alternating them call by call, ``pairs`` rounds.

    Returns one summary per model: median and 95th percentile in ms, and for every model after
    the first its per-round time ratio to the first (``ratio_p50``, ``ratio_p95``).
    """
    with fixed_threads(threads):
        for _ in range(warmup):
            for predict in predicts:
                predict(inputs)
        rounds = np.zeros((pairs, len(predicts)))
        for round_index in range(pairs):
            order = range(len(predicts)) if round_index % 2 == 0 else reversed(range(len(predicts)))
            for index in order:  # who goes first alternates too: no model always runs on a warmer cache
                start = time.perf_counter()
                predicts[index](inputs)
                rounds[round_index, index] = (time.perf_counter() - start) * 1000
    summaries = [_summary(rounds[:, index]) for index in range(len(predicts))]
    for index in range(1, len(predicts)):
        ratios = rounds[:, index] / rounds[:, 0]
        summaries[index].update(ratio_p50=float(np.median(ratios)), ratio_p95=float(np.percentile(ratios, 95)))
    return summaries


def measure_latency(
    predict: Callable[[np.ndarray], object], inputs: np.ndarray, repeats: int = 30, warmup: int = 5, threads: int = 1
) -> dict[str, float]:
    """Median and 95th percentile wall time of ``predict(inputs)`` in milliseconds."""
    return measure_latency_side_by_side([predict], inputs, repeats, warmup, threads)[0]


def tensor_bytes(classifier) -> int:
    """Bytes of the model's tensors (weights, buffers, quantization scales): its size in a compact
    format, where file sizes also carry pickled code or a serialized graph."""
    module = getattr(classifier, "module", None)
    if module is None:
        return serialized_size(classifier)  # a scikit-learn model: no tensors to count
    if hasattr(module, "tensor_bytes"):
        return module.tensor_bytes()
    return sum(tensor.nbytes for tensor in module.state_dict().values())
