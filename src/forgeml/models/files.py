"""A trained classifier as plain files in a folder, and back: the form the registry logs, hashes and serves.

No file in the folder is a pickle, so loading a registered version, or a stage's candidates, runs no code but
ForgeML's own:
- ``classifier.json``: the kind of classifier, its class labels and its options;
- ``module.pt2``: a torch module as an exported program (forgeml.models.program), the form the registry serves;
  a quantized module keeps its INT8 program;
- ``weights.safetensors``: a torch module as its weights, with the ``Blueprint`` it is built from again
  (forgeml.models.build) in ``classifier.json``: the form stages hand each other, since a loaded module trains on
  (a compression base, a student's teacher);
- ``tokenizer/``: a text model's tokenizer, as ``save_pretrained`` writes it;
- ``estimator.skops``: a scikit-learn reference in skops' format, loaded only when every type it names
  comes from scikit-learn, NumPy or SciPy.
"""

from __future__ import annotations

import json
import os
from functools import singledispatch
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from forgeml.errors import ModelFileError
from forgeml.models.build import Blueprint, shaped_like
from forgeml.models.classifier import TextClassifier, TorchClassifier
from forgeml.models.program import ProgramModule, QuantizedModule, export_program

DESCRIPTION_FILE = "classifier.json"
PROGRAM_FILE = "module.pt2"
WEIGHTS_FILE = "weights.safetensors"
TOKENIZER_FOLDER = "tokenizer"
ESTIMATOR_FILE = "estimator.skops"
TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.")


@singledispatch
def save_classifier(classifier, folder: Path, program_example=None) -> None:
    """Write ``classifier`` into ``folder`` (created). With ``program_example``, one row or more of what its
    ``predict`` takes, a torch module is exported with it as a program, the registry's form; without, it is
    saved as its weights and blueprint. Any classifier that is not a ForgeML torch or text classifier is a
    scikit-learn estimator (forgeml.models.references)."""
    import skops.io

    folder.mkdir(parents=True, exist_ok=True)
    skops.io.dump(classifier, folder / ESTIMATOR_FILE)
    _describe(folder, {"kind": "sklearn"})


@save_classifier.register
def _(classifier: TorchClassifier, folder: Path, program_example=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    example = None if program_example is None else torch.tensor(np.asarray(program_example[:1], dtype=np.float32))
    module = _save_module(classifier.module, example, folder)
    _describe(folder, {"kind": "torch", "classes": classifier.classes_.tolist(), "module": module})


@save_classifier.register
def _(classifier: TextClassifier, folder: Path, program_example=None) -> None:
    from forgeml.text.tokenization import tokenize

    folder.mkdir(parents=True, exist_ok=True)
    example = None if program_example is None else torch.from_numpy(
        tokenize([str(program_example[0])], classifier.tokenizer, classifier.max_length, classifier.head_tokens))
    module = _save_module(classifier.module, example, folder)
    classifier.tokenizer.save_pretrained(folder / TOKENIZER_FOLDER)
    _describe(folder, {"kind": "text", "classes": classifier.classes_.tolist(), "module": module,
                       "max_length": classifier.max_length, "head_tokens": classifier.head_tokens,
                       "batch_size": classifier.batch_size})


def load_classifier(folder: Path):
    """The classifier ``save_classifier`` wrote into ``folder``."""
    description = json.loads((folder / DESCRIPTION_FILE).read_text())
    kind = description["kind"]
    if kind == "sklearn":
        return _load_estimator(folder / ESTIMATOR_FILE)
    module = _load_module(folder, description["module"])
    classes = np.asarray(description["classes"])
    if kind == "torch":
        return TorchClassifier(module, classes)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_FOLDER, local_files_only=True)
    return TextClassifier(module, classes, tokenizer, description["max_length"], description["head_tokens"],
                          description["batch_size"])


def _describe(folder: Path, description: dict[str, Any]) -> None:
    (folder / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))


def _save_module(module: torch.nn.Module, example: torch.Tensor | None, folder: Path) -> dict[str, Any]:
    """Write the module's program (exported with ``example``, or the one it is) or, without an example, its
    weights; return what loading it needs besides."""
    if isinstance(module, QuantizedModule):
        (folder / PROGRAM_FILE).write_bytes(module.program)
        return {"form": "quantized", "report": module.report, "dynamic_shapes": module.dynamic_shapes}
    if isinstance(module, ProgramModule) or example is not None:
        (folder / PROGRAM_FILE).write_bytes(module.program if isinstance(module, ProgramModule) else export_program(module, example))
        return {"form": "program"}
    blueprint = getattr(module, "blueprint", None)
    if blueprint is None:
        raise ModelFileError(f"A {type(module).__name__} that forgeml.models.build_model did not build has no blueprint to "
                             "be built again from; save it with a program example instead.")
    # Contiguous: safetensors writes plain row-major tensors, and a model trained on CUDA may be channels_last.
    save_file({name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()},
              folder / WEIGHTS_FILE)
    return {"form": "weights", "blueprint": blueprint.as_data()}


def _load_module(folder: Path, description: dict[str, Any]) -> torch.nn.Module:
    if description["form"] == "weights":
        state = load_file(folder / WEIGHTS_FILE)
        module = shaped_like(Blueprint.from_data(description["blueprint"]).build(), state)
        module.load_state_dict(state)
        return module
    program = (folder / PROGRAM_FILE).read_bytes()
    if description["form"] == "quantized":
        return QuantizedModule(program, description["report"], description["dynamic_shapes"])
    return ProgramModule(program)


def _load_estimator(path: Path):
    import skops.io

    named = skops.io.get_untrusted_types(file=path)  # every type the file would build beyond skops' defaults
    foreign = [name for name in named if not name.startswith(TRUSTED_MODULES)]
    if foreign:
        raise ModelFileError(
            f"{path} names types outside scikit-learn, NumPy and SciPy ({', '.join(foreign)}), which ForgeML never "
            "writes; it is not loaded.")
    return skops.io.load(path, trusted=named)
