"""Training throughput on a GPU: ForgeML's loop per model family, fp32 against bf16, compiled against eager,
and, on the ResNet, ForgeML's loop against a bare PyTorch loop and Lightning's Trainer on the same batches.

Models (random weights, synthetic data already on the device, as the platform keeps small sets):
the digits MLP on 1,024 features, the ResNet of layers [2, 2, 2] at width 32 and the digits DenseNet on
3x32x32 images, and a BERT of all-MiniLM-L6-v2's shape (6 layers, 384 wide) on 128 tokens. Each call
trains ``--epochs`` epochs of ``--steps`` steps through one ``forgeml.training.fit`` (which also validates
one batch after each epoch, as it always does), timed from the call to its last synchronised step, and
reports images (or texts) per second; the bare loop and Lightning train the same epochs. Variants are
rotated call by call and the report gives the median over ``--pairs`` rounds with the ratios of each
round. One warm-up call per variant comes first (compilation, CUDA graph capture, cuDNN's algorithm search).

The loop comparison runs in the precision and mode the grid found faster for the ResNet. Each result is
written as soon as it is measured, so a run stopped by its time limit still leaves what it finished.
Writes benchmarks/reports/gpu_throughput.{json,md}. On the CPU it runs too, slowly (``--steps 2 --epochs 1 --pairs 1
--no-compile``), which is how CI checks that it works.

    python benchmarks/gpu_throughput.py [--models resnet,mlp,bert,densenet] [--steps 25] [--epochs 4] [--pairs 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F

from forgeml.models import build_model
from forgeml.training import TensorBatches, TrainConfig, fit, resolve_device
from forgeml.training.loop import autocast, memory_format

MINILM_SHAPE = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                "intermediate_size": 1536, "max_position_embeddings": 512}


@dataclass(frozen=True)
class Workload:
    """One model family as the benchmark trains it: its spec, one input's shape, classes and batch size."""

    spec: dict
    shape: tuple[int, ...]
    classes: int
    batch_size: int
    unit: str = "images"

    def data(self, count: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        if self.spec["family"] == "bert":  # token ids and an all-ones mask, as forgeml.text stacks them
            ids = torch.randint(1, MINILM_SHAPE["vocab_size"], (count, 1, self.shape[1]), generator=generator)
            features = torch.cat([ids, torch.ones_like(ids)], dim=1)
        else:
            features = torch.rand(count, *self.shape, generator=generator)
        return features.to(device), torch.randint(0, self.classes, (count,), generator=generator).to(device)

    def model(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(self.spec, self.shape, self.classes)


WORKLOADS = {
    "mlp": Workload({"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.2, "batch_norm": True},
                    (1024,), 10, 256, "rows"),
    "resnet": Workload({"family": "resnet", "block": "basic", "layers": [2, 2, 2], "base_width": 32}, (3, 32, 32), 10, 256),
    "densenet": Workload({"family": "densenet", "growth_rate": 12, "block_config": [4, 4, 4], "bn_size": 4,
                          "compression": 0.5, "dropout": 0.0}, (3, 32, 32), 10, 256),
    "bert": Workload({"family": "bert", "config": MINILM_SHAPE, "pooling": "mean"}, (2, 128), 2, 32, "texts"),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(run: Callable[[], None], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def forgeml_pass(model, batches, val, device, precision: str, compiled: bool, epochs: int) -> Callable[[], None]:
    config = TrainConfig(epochs=epochs, precision=precision, compile=compiled, device=str(device), progress=False,
                         patience=epochs)
    return lambda: fit(model, batches, val, config)


def bare_pass(model, batches, val, device, precision: str, compiled: bool, epochs: int) -> Callable[[], None]:
    """What a PyTorch user writes: the same optimizer (fused on CUDA), layout and autocast, no bookkeeping."""
    layout = memory_format(device, "auto")
    model.to(device, memory_format=layout)
    step_model = torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else None) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if device.type == "cuda" else {}))
    cast = autocast(device, precision, model)
    graphed = compiled and device.type == "cuda"

    def run():
        step_model.train()
        for _ in range(epochs):
            for inputs, labels in batches:
                if graphed:  # the step's graphs may overwrite the last step's outputs
                    torch.compiler.cudagraph_mark_step_begin()
                if inputs.ndim == 4:
                    inputs = inputs.contiguous(memory_format=layout)
                with cast:
                    loss = F.cross_entropy(step_model(inputs).float(), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return run


def lightning_pass(model, batches, val, device, precision: str, compiled: bool, epochs: int) -> Callable[[], None]:
    """Lightning's Trainer over the same batches and epochs, with its logging, checkpoints and bars off."""
    try:
        import lightning as L
    except ImportError:
        import pytorch_lightning as L

    layout = memory_format(device, "auto")

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else None) if compiled else model

        def training_step(self, batch, index):
            inputs, labels = batch
            if inputs.ndim == 4:
                inputs = inputs.contiguous(memory_format=layout)
            return F.cross_entropy(self.model(inputs).float(), labels)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3, **({"fused": True} if device.type == "cuda" else {}))

    module = Module()
    model.to(memory_format=layout)

    def run():
        trainer = L.Trainer(max_epochs=epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                            precision="bf16-mixed" if precision == "bf16" else "32-true", logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            num_sanity_val_steps=0)
        trainer.fit(module, train_dataloaders=batches)
    return run


LOOPS = {"forgeml": forgeml_pass, "bare": bare_pass, "lightning": lightning_pass}


def rotated(variants: dict[str, Callable[[], None]], pairs: int, device: torch.device, units: int) -> dict:
    """Units per second of each variant over ``pairs`` rounds, the order rotated each round; one warm-up each."""
    for run in variants.values():
        run()
    names, rates = list(variants), {name: [] for name in variants}
    for round_ in range(pairs):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            rates[name].append(units / timed(variants[name], device))
    result = {name: {"per_s_p50": statistics.median(values), "per_s": values} for name, values in rates.items()}
    first = names[0]
    for name in names[1:]:
        result[name][f"ratio_to_{first}_p50"] = statistics.median(b / a for a, b in zip(rates[first], rates[name]))
    return result


def measure(name: str, workload: Workload, args, device: torch.device, report: dict, write: Callable[[], None]) -> None:
    features, labels = workload.data(args.steps * workload.batch_size, device)
    batches = TensorBatches(features, labels, workload.batch_size, shuffle=True, drop_last=True)
    val = TensorBatches(features[: workload.batch_size], labels[: workload.batch_size], workload.batch_size)
    units = args.epochs * len(batches) * workload.batch_size
    entry = report["models"][name] = {"batch_size": workload.batch_size, "steps": args.steps, "epochs": args.epochs,
                                      "unit": workload.unit}
    # fp32 against bf16 eager; then, in the faster of the two, compiled against eager (one compile per family
    # keeps the whole check inside a lent machine's minutes).
    entry["precision"] = rotated({precision: forgeml_pass(workload.model(), batches, val, device, precision, False, args.epochs)
                                  for precision in ("fp32", "bf16")}, args.pairs, device, units)
    entry["faster_precision"] = max(("fp32", "bf16"), key=lambda precision: entry["precision"][precision]["per_s_p50"])
    write()
    best = (entry["faster_precision"], False)
    if args.compile:
        entry["compile"] = rotated({mode: forgeml_pass(workload.model(), batches, val, device, entry["faster_precision"],
                                                       mode == "compiled", args.epochs) for mode in ("eager", "compiled")},
                                   args.pairs, device, units)
        entry["faster_mode"] = max(("eager", "compiled"), key=lambda mode: entry["compile"][mode]["per_s_p50"])
        best = (entry["faster_precision"], entry["faster_mode"] == "compiled")
        write()
    if name == args.loops_on:
        loops = {loop: make(workload.model(), batches, val, device, *best, args.epochs)
                 for loop, make in LOOPS.items() if loop != "lightning" or lightning_available()}
        entry["loops"] = {"variant": f"{best[0]} {'compiled' if best[1] else 'eager'}",
                          **rotated(loops, args.pairs, device, units)}
        write()


def lightning_available() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(package) for package in ("lightning", "pytorch_lightning"))


def markdown(report: dict) -> str:
    lines = [f"# Training throughput on {report['device']}", "",
             f"torch {report['torch']}; {report['epochs']} epochs of {report['steps']} steps per timed call; median of "
             f"{report['pairs']} rotated rounds; synthetic data on the device.", "",
             "| model | batch | fp32 eager /s | bf16 eager /s | bf16 / fp32 | compiled /s (faster precision) | compiled / eager |",
             "|---|---|---|---|---|---|---|"]
    for name, model in report["models"].items():
        precision, compile_ = model.get("precision"), model.get("compile")
        cells = [f"{precision['fp32']['per_s_p50']:,.0f} {model['unit']}", f"{precision['bf16']['per_s_p50']:,.0f}",
                 f"{precision['bf16']['ratio_to_fp32_p50']:.2f}"] if precision else ["", "", ""]
        cells += [f"{compile_['compiled']['per_s_p50']:,.0f} ({model['faster_precision']})",
                  f"{compile_['compiled']['ratio_to_eager_p50']:.2f}"] if compile_ else ["", ""]
        if "error" in model:
            cells[-1] += f" failed: {model['error'].strip().splitlines()[-1]}"
        lines.append(f"| {name} | {model['batch_size']} | " + " | ".join(cells) + " |")
    for name, model in report["models"].items():
        loops = model.get("loops")
        if loops:
            lines += ["", f"## {name}: ForgeML's loop against a bare loop and Lightning ({loops['variant']})", "",
                      "| loop | per s | ForgeML / loop |", "|---|---|---|"]
            forgeml = loops["forgeml"]["per_s_p50"]
            for loop, figures in loops.items():
                if loop != "variant":
                    lines.append(f"| {loop} | {figures['per_s_p50']:,.0f} | {forgeml / figures['per_s_p50']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet,mlp,bert,densenet")
    parser.add_argument("--steps", type=int, default=25, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed call")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--loops-on", default="resnet", help="the model the three loops are compared on")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="eager only (a quick check on the CPU)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    device = resolve_device("auto")
    report = {
        "benchmark": "gpu_throughput", "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "steps": args.steps, "epochs": args.epochs, "pairs": args.pairs, "models": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)

    def write():
        (args.out / "gpu_throughput.json").write_text(json.dumps(report, indent=2))
        (args.out / "gpu_throughput.md").write_text(markdown(report))

    for name in args.models.split(","):
        started = time.perf_counter()
        try:
            measure(name, WORKLOADS[name], args, device, report, write)
        except Exception:  # one family's failure (a compile error, say) must not lose the others' figures
            report["models"].setdefault(name, {"batch_size": WORKLOADS[name].batch_size, "unit": WORKLOADS[name].unit})
            report["models"][name]["error"] = traceback.format_exc()
            traceback.print_exc()
        report["models"][name]["seconds"] = round(time.perf_counter() - started, 1)
        write()
        print(f"{name}: {report['models'][name]['seconds']} s", flush=True)
    print(markdown(report))


if __name__ == "__main__":
    main()
