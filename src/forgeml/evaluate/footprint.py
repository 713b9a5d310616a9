"""Model size and CPU latency, measured the same way for every candidate."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np


def serialized_size(model) -> int:
    """Bytes of the model as torch.save writes it (works for torch modules and scikit-learn objects)."""
    import torch

    buffer = io.BytesIO()
    torch.save(model, buffer)
    return buffer.getbuffer().nbytes


@contextmanager
def fixed_threads(threads: int):
    """Pin torch's intra-op threads (and BLAS through threadpoolctl) for a measurement, then restore."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def measure_latency(
    predict: Callable[[np.ndarray], object], inputs: np.ndarray, repeats: int = 30, warmup: int = 5, threads: int = 1
) -> dict[str, float]:
    """Median and 95th percentile wall time of ``predict(inputs)`` in milliseconds."""
    with fixed_threads(threads):
        for _ in range(warmup):
            predict(inputs)
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict(inputs)
            timings.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.median(timings)), "p95_ms": float(np.percentile(timings, 95))}
