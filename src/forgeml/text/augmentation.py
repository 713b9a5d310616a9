"""Text augmentation on token ids, for whole batches on the training device (no downloads, no word lists).

Each transform acts on a sequence's real tokens only (not [CLS], [SEP] or padding):

- ``deletion``: drop each token with probability ``p``; the rest shift left, padding fills the end;
- ``swap``: swap ``n`` random pairs of neighbouring tokens, in a sequence chosen with probability ``p``;
- ``span_mask``: replace one span of up to ``max_span`` tokens with [MASK], with probability ``p``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from forgeml.errors import ConfigError

TRANSFORMS = ("deletion", "swap", "span_mask")


class TokenAugmentation(nn.Module):
    """A policy (transform -> settings; absent or false: off) applied to (batch, 2, length) id/mask tensors."""

    def __init__(self, policy: dict[str, Any], mask_token_id: int, pad_token_id: int = 0, seed: int | None = None):
        super().__init__()
        unknown = sorted(set(policy) - set(TRANSFORMS))
        if unknown:
            raise ConfigError(f"Unknown text augmentation {unknown}; known: {', '.join(TRANSFORMS)}.")
        self.policy = {name: dict(settings) for name, settings in policy.items() if settings}
        for name, settings in self.policy.items():
            if not 0.0 <= float(settings.get("p", 0.5)) <= 1.0:
                raise ConfigError(f"Text augmentation {name}.p must lie in [0, 1], not {settings['p']}.")
        self.mask_token_id, self.pad_token_id = mask_token_id, pad_token_id
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    @classmethod
    def for_tokenizer(cls, policy: dict[str, Any], tokenizer, seed: int | None = None) -> "TokenAugmentation":
        return cls(policy, tokenizer.mask_token_id, tokenizer.pad_token_id, seed)

    def _rand(self, *shape: int, device) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator).to(device)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        ids, mask = batch[:, 0].clone(), batch[:, 1].clone()
        lengths = mask.sum(1)  # [CLS] ... [SEP]: real tokens are positions 1 .. length - 2
        positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        inner = (positions >= 1) & (positions < (lengths - 1).unsqueeze(1))
        if "span_mask" in self.policy:
            ids = self._span_mask(ids, inner, positions, lengths, **self.policy["span_mask"])
        if "swap" in self.policy:
            ids = self._swap(ids, inner, lengths, **self.policy["swap"])
        if "deletion" in self.policy:
            ids, mask = self._delete(ids, mask, inner, **self.policy["deletion"])
        return torch.stack([ids, mask], dim=1)

    def _span_mask(self, ids, inner, positions, lengths, p: float = 0.5, max_span: int = 3):
        chosen = self._rand(len(ids), device=ids.device) < p
        real = (lengths - 2).clamp_min(1)
        span = (self._rand(len(ids), device=ids.device) * max_span).long() + 1
        start = 1 + (self._rand(len(ids), device=ids.device) * real).long()
        hit = (positions >= start.unsqueeze(1)) & (positions < (start + span).unsqueeze(1)) & inner & chosen.unsqueeze(1)
        return ids.masked_fill(hit, self.mask_token_id)

    def _swap(self, ids, inner, lengths, p: float = 0.5, n: int = 1):
        rows = torch.nonzero(self._rand(len(ids), device=ids.device) < p).flatten()
        for row in rows.tolist():
            real = int(lengths[row]) - 2
            for _ in range(n if real >= 2 else 0):
                left = 1 + int(self._rand(1, device="cpu").item() * (real - 1))
                ids[row, [left, left + 1]] = ids[row, [left + 1, left]]
        return ids

    def _delete(self, ids, mask, inner, p: float = 0.1):
        keep = ~(inner & (self._rand(*ids.shape, device=ids.device) < p))
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept tokens first, in order
        ids, kept = ids.gather(1, order), keep.gather(1, order)
        mask = mask.gather(1, order) & kept.to(mask.dtype)
        return ids.masked_fill(mask == 0, self.pad_token_id), mask
