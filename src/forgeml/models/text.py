"""BERT for classification (transformers), taking the (batch, 2, length) id/mask tensors of forgeml.text."""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch
from torch import nn

from forgeml.errors import ConfigError


POOLINGS = ("cls", "mean")


class BertClassifier(nn.Module):
    """A BERT encoder with a classification head on its pooled output.

    ``pooling``: "cls", BERT's pooler on the [CLS] token, or "mean", the average of the real tokens'
    last hidden states, as sentence-transformers models (all-MiniLM-L6-v2) were trained to be used.

    ``pretrained``: a model folder (or forgeml.text.BUNDLED_MODEL) whose encoder weights start
    training; without it, ``config`` (BertConfig options) builds a randomly initialised encoder, as
    tests do. ``layers`` keeps only those encoder layers (e.g. [0, 2, 4] of a 6-layer teacher: a
    student initialised from it); ``freeze_layers`` freezes the embeddings and the first N layers.
    ``max_length`` reads only each sequence's first N tokens (None: all the data stage made): shorter is
    faster, since attention grows with the square of the length, so a study can weigh it without
    tokenizing again; the registered model truncates the same way.
    """

    pooling = "cls"  # also what modules pickled before `pooling` existed use
    max_length = None  # ... and before `max_length` existed

    def __init__(self, input_shape: Sequence[int], n_classes: int, pretrained: str | None = None,
                 config: dict[str, Any] | None = None, dropout: float = 0.1, freeze_layers: int = 0,
                 layers: Sequence[int] | None = None, pooling: str = "cls", max_length: int | None = None):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import BertConfig, BertForSequenceClassification

        if len(input_shape) != 2 or input_shape[0] != 2:
            raise ConfigError(f"A BERT candidate takes token ids and masks (2, max_length), not inputs shaped {tuple(input_shape)}.")
        options = {"num_labels": n_classes, "hidden_dropout_prob": dropout, "classifier_dropout": dropout}
        if pretrained:
            from forgeml.text.tokenization import pretrained_folder

            self.bert = BertForSequenceClassification.from_pretrained(pretrained_folder(pretrained), **options)
        elif config:
            self.bert = BertForSequenceClassification(BertConfig(**{**config, **options}))
        else:
            raise ConfigError("A BERT candidate needs `pretrained` (a model folder) or `config` (BertConfig options).")
        if pooling not in POOLINGS:
            raise ConfigError(f"Unknown `pooling` {pooling!r}; choose one of {', '.join(POOLINGS)}.")
        self.pooling = pooling
        if max_length is not None and max_length < 2:
            raise ConfigError(f"`max_length` {max_length} leaves no room for a token between [CLS] and [SEP]; use 2 or more.")
        self.max_length = max_length
        if pooling == "mean":
            self.bert.bert.pooler = None  # unused: its weights would only inflate the model
        if layers is not None:
            self.keep_layers(layers)
        self.freeze(freeze_layers)

    @property
    def num_layers(self) -> int:
        return len(self.bert.bert.encoder.layer)

    def keep_layers(self, indices: Sequence[int]) -> None:
        indices = list(indices)
        if not indices or any(not 0 <= i < self.num_layers for i in indices):
            raise ConfigError(f"`layers` {indices} must pick encoder layers among 0..{self.num_layers - 1}.")
        self.bert.bert.encoder.layer = nn.ModuleList(self.bert.bert.encoder.layer[i] for i in indices)
        self.bert.config.num_hidden_layers = len(indices)

    def freeze(self, first_layers: int) -> None:
        if not 0 <= first_layers <= self.num_layers:
            raise ConfigError(f"`freeze_layers` must lie in 0..{self.num_layers}, not {first_layers}.")
        if first_layers == 0:
            return
        frozen = [self.bert.bert.embeddings, *self.bert.bert.encoder.layer[:first_layers]]
        for module in frozen:
            module.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.long()
        if self.max_length is not None:
            x = x[:, :, : self.max_length]
        if self.pooling == "cls":
            return self.bert(input_ids=x[:, 0], attention_mask=x[:, 1]).logits
        hidden = self.bert.bert(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
        mask = x[:, 1].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.bert.classifier(self.bert.dropout(pooled))
