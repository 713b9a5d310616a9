import pytest
import torch
from compression_fixtures import CANCER, MLP, accuracy, train
from torch.nn import functional as F

from forgeml.compression import DistillationLoss
from forgeml.errors import ConfigError
from forgeml.models import count_parameters


def test_the_loss_mixes_softened_kl_and_cross_entropy():
    torch.manual_seed(0)
    teacher = torch.nn.Linear(4, 3)
    inputs, labels = torch.randn(8, 4), torch.randint(0, 3, (8,))
    logits = torch.randn(8, 3)
    loss = DistillationLoss(teacher, temperature=2.0, alpha=0.25)(logits, labels, inputs)
    with torch.no_grad():
        teacher_probs = F.softmax(teacher(inputs) / 2, dim=1)
    kl = (teacher_probs * (teacher_probs.log() - F.log_softmax(logits / 2, dim=1))).sum(1).mean() * 4
    assert loss.item() == pytest.approx((0.25 * kl + 0.75 * F.cross_entropy(logits, labels)).item(), rel=1e-5)
    # A student that already matches the teacher pays only the cross-entropy part.
    with torch.no_grad():
        same = teacher(inputs)
    matched = DistillationLoss(teacher, 2.0, 0.25)(same, labels, inputs)
    assert matched.item() == pytest.approx(0.75 * F.cross_entropy(same, labels).item(), rel=1e-5)


@pytest.mark.parametrize("temperature, alpha", [(0, 0.5), (-1, 0.5), (2, 0), (2, 1.2)])
def test_bad_settings_fail_clearly(temperature, alpha):
    with pytest.raises(ConfigError):
        DistillationLoss(torch.nn.Linear(2, 2), temperature, alpha)


def test_a_small_student_keeps_most_of_the_teachers_accuracy(cancer, cancer_mlp):
    student_spec = {"family": "mlp", "hidden": [8], "activation": "relu", "dropout": 0.0, "batch_norm": True}
    student = train(student_spec, cancer, CANCER, epochs=40, loss_fn=DistillationLoss(cancer_mlp, 4.0, 0.7))
    assert count_parameters(student) <= count_parameters(cancer_mlp) / 3
    assert accuracy(student, cancer) >= 0.97 * accuracy(cancer_mlp, cancer)
    assert MLP["hidden"] != student_spec["hidden"]
