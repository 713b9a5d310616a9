"""Python's cyclic garbage collector, kept off the objects that live as long as the process.

torch, MLflow, kedro and pandas leave about a million tracked objects behind their imports. Each full collection
walks all of them again (0.4-0.7 s on these machines), and training makes enough garbage to run several per
stage: up to a sixth of an MLP study's time. Frozen objects are never walked; they are not garbage anyway.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect once, then freeze every object alive now (the imports, the project's settings), the first time
    a process calls it; later calls do nothing, so objects of a finished stage are collected as usual."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def freeze_before_exit() -> None:
    """Freeze whatever is left, so the interpreter's last collections at exit (about 3 s after a run of every
    stage) skip it: the process is ending and the memory goes back with it."""
    gc.freeze()
