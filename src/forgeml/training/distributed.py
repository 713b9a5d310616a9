"""Data-parallel training: one candidate on several processes, through torch.distributed and DDP.

``fit`` with ``TrainConfig.processes`` above 1 trains in the calling process (rank 0: it alone calls
``on_epoch_end``, shows progress and returns the best weights, so MLflow holds one run per candidate)
and in ``processes - 1`` spawned workers. Every process draws the same global batch and trains on its
slice of it (``batch_size`` stays the global batch); DistributedDataParallel averages the gradients,
so a step follows the same mean gradient as on one process, and rank 0 decides when to stop. gloo
on the CPU (each process gets its share of the cores), NCCL on GPUs (one device per process).

Why not accelerate: its state is a per-process singleton, set once from the launcher's environment,
while here one process trains candidate after candidate, each with its own group; and the loop is
already device- and precision-aware, so accelerate would only wrap the same DDP calls.
"""

from __future__ import annotations

import io
import socket
import traceback
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator

import torch

from forgeml.errors import ConfigError


class SingleProcess:
    """Training on one process: the identity for every collective step of the loop."""

    rank, size, is_main = 0, 1, True

    def __init__(self, device: torch.device):
        self.device = device

    def wrap(self, model):
        return model

    def shard(self, batches):
        return batches

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def agree(self, flag: bool) -> bool:
        return flag


class ProcessGroup:
    """This process's place in a data-parallel group: its rank, its device and the collectives."""

    def __init__(self, rank: int, size: int, device: torch.device):
        self.rank, self.size, self.device = rank, size, device
        self.is_main = rank == 0

    def wrap(self, model):
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def shard(self, batches):
        return BatchShard(batches, self.rank, self.size)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        torch.distributed.all_reduce(tensor)
        return tensor

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (whether to stop)."""
        decision = torch.tensor([int(flag)], device=self.device)
        torch.distributed.broadcast(decision, src=0)
        return bool(decision.item())


class BatchShard:
    """Every ``size``-th row of each batch, from ``rank`` on: the batches must be drawn alike on every rank."""

    def __init__(self, batches, rank: int, size: int):
        self.batches, self.rank, self.size = batches, rank, size

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for inputs, labels in self.batches:
            yield inputs[self.rank :: self.size], labels[self.rank :: self.size]


def resolve_processes(processes: int | str, device: torch.device) -> int:
    """How many processes train one candidate: ``processes`` (a TrainConfig's, so a whole number or ``auto``), checked
    against the machine, or for ``auto`` one per GPU on CUDA (one on the CPU). On CUDA each process needs a GPU of
    its own: NCCL refuses two ranks on one."""
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if processes == "auto":
        return max(1, gpus)
    if device.type == "cuda" and processes > gpus:
        raise ConfigError(
            f"Training option `processes` is {processes}, but this machine has {gpus} GPU{'s' if gpus != 1 else ''}: "
            "on CUDA each process trains on a GPU of its own. Set `processes` to at most that, or `auto` (one per GPU).")
    return processes


def _device_for(device: torch.device, rank: int) -> torch.device:
    return torch.device("cuda", rank % torch.cuda.device_count()) if device.type == "cuda" else device


def threads_per_process(processes: int) -> int:
    """Each process's share of the threads this one may use (torch's count: the cores, or ``OMP_NUM_THREADS``)."""
    return max(1, torch.get_num_threads() // processes)


def _free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


# How long a process waits for the others, at start or at a step: bounds the wait on a worker that died
# before joining; rank 0's per-epoch work (logging, pruning) must stay under it.
WAIT = timedelta(minutes=10)


@contextmanager
def _joined(address: str, rank: int, size: int, device: torch.device) -> Iterator[ProcessGroup]:
    """This process in the group for the ``with`` block; the group is destroyed on leaving it."""
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=address, rank=rank,
                                         world_size=size, timeout=WAIT)
    try:
        yield ProcessGroup(rank, size, _device_for(device, rank))
    except BaseException as error:
        # The failed step's frames hold the DDP model, whose reducer holds the group. Freed later with
        # the traceback, the reducer would destroy the group while holding the GIL, and gloo's threads,
        # still releasing the failed step's tensors, wait for the GIL: a deadlock (seen in the tests).
        # Freed here, the group outlives it and is destroyed below, with the GIL released.
        traceback.clear_frames(error.__traceback__)
        raise
    finally:
        torch.distributed.destroy_process_group()


def _worker(index: int, address: str, size: int, device: torch.device, train: Callable, fit_arguments: bytes) -> None:
    rank = index + 1
    torch.set_num_threads(threads_per_process(size))
    model, train_batches, val_batches, config, description, augment, loss_fn = torch.load(
        io.BytesIO(fit_arguments), weights_only=False)  # written by process_group in this run
    torch.manual_seed(config.seed + rank)  # its own dropout and augmentation draws; the weights come from rank 0
    with _joined(address, rank, size, device) as group:
        train(model, train_batches, val_batches, config, group, None, description, augment, loss_fn)


@contextmanager
def process_group(processes: int, device: torch.device, train: Callable, fit_arguments: tuple) -> Iterator[ProcessGroup]:
    """Spawn ``processes - 1`` workers that run ``train`` (forgeml.training.loop.fit_in_group, passed in by the
    loop that this module serves) on ``fit_arguments`` in their group, and yield rank 0's group.

    On leaving, waits for the workers; if rank 0 failed (a pruned trial, a diverged loss), ends them.
    """
    import torch.multiprocessing

    address = _free_address()
    # As bytes: tensors handed to a spawned process as they are travel as file descriptors, which the
    # spawn launcher can refuse ("bad value(s) in fds_to_keep").
    serialized = io.BytesIO()
    torch.save(fit_arguments, serialized)
    workers = torch.multiprocessing.start_processes(
        _worker, args=(address, processes, device, train, serialized.getvalue()), nprocs=processes - 1, join=False,
        start_method="spawn")  # fork with torch's threads can deadlock
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_process(processes))
    try:
        with _joined(address, 0, processes, device) as group:
            yield group
        while not workers.join():
            pass
    except BaseException as error:
        failed = {rank: worker.exitcode for rank, worker in enumerate(workers.processes, start=1) if worker.exitcode}
        for worker in workers.processes:
            worker.terminate()
        if failed:  # the cause, rather than rank 0's lost connection or timeout
            raise RuntimeError(f"Data-parallel training failed: worker process(es) {failed} (rank: exit code) exited; "
                                "their error is above.") from error
        raise
    finally:
        torch.set_num_threads(threads)
