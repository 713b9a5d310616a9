"""Knowledge distillation: a student learns from a teacher's softened outputs as well as the labels."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from forgeml.checks import fraction
from forgeml.errors import ConfigError


class DistillationLoss:
    """``alpha`` x temperature-scaled KL(teacher || student) + (1 - ``alpha``) x cross-entropy.

    The KL term is multiplied by temperature squared (Hinton et al., 2015), which keeps its gradients
    on the scale of the cross-entropy's whatever the temperature. Pass it to ``fit`` as ``loss_fn``.
    """

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7):
        if not temperature or temperature <= 0:
            raise ConfigError(f"Distillation `temperature` must be positive, not {temperature!r}.")
        self.teacher = teacher.eval()
        self.temperature = float(temperature)
        self.alpha = fraction(alpha, "Distillation `alpha` (the weight of the teacher's term)")

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = self.teacher(inputs).float()
        soft = F.kl_div(
            F.log_softmax(logits / self.temperature, dim=1), F.log_softmax(teacher_logits / self.temperature, dim=1),
            reduction="batchmean", log_target=True,
        ) * self.temperature**2
        return self.alpha * soft + (1 - self.alpha) * F.cross_entropy(logits, labels)
