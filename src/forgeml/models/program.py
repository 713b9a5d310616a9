"""A torch model as an exported program (``torch.export``): its graph as JSON and its tensors as raw bytes.

Loading a program runs no pickled code, and it needs none of the code that built the model: a channel-pruned
network, a distilled student or an INT8 graph travel the same way. Programs take a dynamic batch dimension,
so one export serves every batch size.
"""

from __future__ import annotations

import hashlib
import io
from typing import Callable

import torch
from torch import nn

# Compiled programs by (digest, dynamic_shapes): a quantized model loaded again in the same process (the next
# stage of `forgeml repro`, MLflow's load of a registered version) reuses the compile instead of paying it again.
_COMPILED: dict[tuple[str, bool], Callable] = {}


def dynamic_batch():
    """The ``dynamic_shapes`` of a one-input model whose first dimension is the batch."""
    return ({0: torch.export.Dim("batch")},)


def program_bytes(exported: torch.export.ExportedProgram) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(exported, buffer)
    return buffer.getvalue()


def export_program(module: nn.Module, example: torch.Tensor) -> bytes:
    """``module`` (in eval mode, on the CPU) exported for any batch size of inputs shaped like ``example``."""
    # Two rows: an export traced at batch 1 would specialise the batch dimension to 1.
    example = example[:1].expand(2, *example.shape[1:]).contiguous()
    return program_bytes(torch.export.export(module.cpu().eval(), (example,), dynamic_shapes=dynamic_batch()))


class ProgramModule(nn.Module):
    """An exported program, run eagerly. It keeps its bytes, which are what is saved and hashed."""

    def __init__(self, program: bytes):
        super().__init__()
        self.program = program

    def _runtime(self) -> Callable:
        # Not a registered submodule: an exported graph refuses train()/eval(), which callers apply to this one.
        if "_runtime_module" not in self.__dict__:
            self.__dict__["_runtime_module"] = self._prepared()
        return self.__dict__["_runtime_module"]

    def _prepared(self) -> Callable:
        return torch.export.load(io.BytesIO(self.program)).module()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._runtime()(inputs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_runtime_module", None)
        return state


class QuantizedModule(ProgramModule):
    """A quantized program (forgeml.compression.quantization), compiled on first use: eager, its
    quantize/dequantize pairs are several times slower than FP32; inductor's x86 backend lowers them to INT8
    kernels. ``dynamic_shapes``: compile once for any batch size instead of once per shape (the x86 INT8
    convolution lowering asserts on strides with a symbolic batch, so image models compile per shape). The batch
    size is marked unbacked: a backed one is specialised at 1, and the latency at batch 1, measured first, would
    cost a second compile for every other batch size."""

    def __init__(self, program: bytes, report: dict, dynamic_shapes: bool = False):
        super().__init__(program)
        self.report = report
        self.dynamic_shapes = dynamic_shapes

    def tensor_bytes(self) -> int:
        return self.report["tensor_bytes"]

    @property
    def compiles_per_shape(self) -> bool:
        return not self.dynamic_shapes

    def _prepared(self) -> Callable:
        key = (hashlib.sha256(self.program).hexdigest(), self.dynamic_shapes)
        if key not in _COMPILED:
            import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the quantize/dequantize ops the graph uses

            _COMPILED[key] = torch.compile(super()._prepared(), dynamic=self.dynamic_shapes)
        return _COMPILED[key]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        import torch._inductor.config as inductor

        if self.dynamic_shapes:
            torch._dynamo.decorators.mark_unbacked(inputs, 0)
        with torch.no_grad(), inductor.patch(freezing=True):  # freezing lets inductor pack the INT8 weights
            return self._runtime()(inputs)
