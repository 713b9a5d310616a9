import multiprocessing

import pytest
import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.training import TrainConfig, TensorBatches, fit
from forgeml.training.distributed import BatchShard, resolve_processes


def toy_problem(n=400):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(n, 5, generator=generator)
    return features, (features[:, 0] + 0.5 * features[:, 1] > 0).long()


def train_linear(processes: int, on_epoch_end=None, epochs: int = 6):
    x, y = toy_problem()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    result = fit(model, TensorBatches(x[:320], y[:320], 32, shuffle=True, seed=1), TensorBatches(x[320:], y[320:], 80),
                 TrainConfig(epochs=epochs, lr=0.1, optimizer="sgd", patience=100, progress=False, processes=processes),
                 on_epoch_end=on_epoch_end)
    return model, result


def test_shards_split_each_batch_between_the_ranks():
    x, y = toy_problem(n=12)
    def batches():  # each rank holds its own copy, drawing the same order
        return TensorBatches(x, y, 6, shuffle=True, seed=2)

    for whole, first, second in zip(batches(), BatchShard(batches(), 0, 2), BatchShard(batches(), 1, 2)):
        assert len(first[1]) == len(second[1]) == 3
        assert sorted(torch.cat([first[1], second[1]]).tolist()) == sorted(whole[1].tolist())
    assert len(BatchShard(batches(), 1, 2)) == len(batches()) == 2


def test_two_processes_follow_the_same_gradients_as_one_and_report_once():
    """Each process takes half of every batch and DDP averages their gradients: the mean gradient of
    the whole batch, so plain SGD ends on the same weights. Only this process sees the epochs."""
    seen = []
    single, single_result = train_linear(1)
    parallel, parallel_result = train_linear(2, on_epoch_end=lambda epoch, metrics: seen.append(epoch))
    assert seen == list(range(6))
    assert torch.allclose(single.weight, parallel.weight, atol=1e-5)
    assert parallel_result.history["val_loss"] == pytest.approx(single_result.history["val_loss"], abs=1e-5)
    assert parallel_result.history["train_loss"] == pytest.approx(single_result.history["train_loss"], abs=1e-5)
    assert not multiprocessing.active_children()


def test_a_failure_in_the_main_process_ends_the_workers():
    class Pruned(Exception):
        pass

    def prune(epoch, metrics):
        raise Pruned(f"pruned at epoch {epoch}")

    with pytest.raises(Pruned, match="epoch 0"):
        train_linear(2, on_epoch_end=prune, epochs=50)
    for child in multiprocessing.active_children():
        child.join(timeout=10)
    assert not multiprocessing.active_children()


def test_processes_must_be_a_positive_whole_number():
    with pytest.raises(ConfigError, match="`processes` must be a whole number"):
        train_linear(0)


def test_more_processes_than_gpus_is_refused_before_anything_is_spawned(monkeypatch):
    """NCCL refuses two ranks on one GPU with a raw error: the count is checked first (the GPU count is faked)."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.multiprocessing, "start_processes", lambda *a, **k: pytest.fail("a process was spawned"))
    x, y = toy_problem()
    with pytest.raises(ConfigError, match=r"`processes` is 2, but this machine has 1 GPU: .* or `auto` \(one per GPU\)"):
        fit(nn.Linear(5, 2), TensorBatches(x, y, 32), TensorBatches(x, y, 80),
            TrainConfig(epochs=1, device="cuda", processes=2, progress=False))


def test_auto_processes_is_one_per_gpu_and_one_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_processes("auto", torch.device("cuda")) == 4
    assert resolve_processes("auto", torch.device("cpu")) == 1
    assert resolve_processes(3, torch.device("cuda")) == 3


def test_a_worker_that_dies_is_named_instead_of_hanging():
    """A worker killed mid-training: the main process's next step fails, and the error names the worker."""
    import os
    import signal

    def kill_worker(epoch, metrics):
        if epoch == 0:
            (worker,) = multiprocessing.active_children()
            os.kill(worker.pid, signal.SIGKILL)
            worker.join()

    with pytest.raises(RuntimeError, match=r"worker process\(es\) \{1: -9\}"):
        train_linear(2, on_epoch_end=kill_worker, epochs=50)
