import pickle
import subprocess
import sys

import pytest
import torch
from compression_fixtures import DIGITS, accuracy
from torch._dynamo.utils import counters

from forgeml.compression import QuantizationPlan, quantize, search_quantization
from forgeml.compression.quantization import fallback_plans, quantizable_layers
from forgeml.errors import ConfigError
from forgeml.models import build_model
from forgeml.models.program import ProgramModule


@pytest.fixture(scope="module")
def static_int8(cancer, cancer_mlp):
    """Quantized for any batch size, as texts are, and first called at a batch of one, as latency is measured."""
    model = quantize(cancer_mlp, QuantizationPlan("static"), cancer.train.inputs, dynamic_shapes=True)
    model(cancer.val.inputs[:1])
    return model


def test_static_int8_is_a_quarter_the_size_and_as_accurate(cancer, cancer_mlp, static_int8):
    report = static_int8.report
    assert report["int8_layers"] == quantizable_layers(cancer_mlp) and report["fp32_layers"] == []
    assert report["quantized_int8_bytes"] <= 0.35 * report["quantized_fp32_bytes"]
    fp32 = accuracy(cancer_mlp, cancer)
    assert (fp32 - accuracy(static_int8, cancer)) / fp32 <= 0.01


def test_a_model_for_any_batch_first_called_with_one_row_compiles_no_more(cancer, static_int8):
    compiled = counters["stats"]["unique_graphs"]
    for rows in (7, 64, len(cancer.val.inputs)):
        static_int8(cancer.val.inputs[:rows])
    assert counters["stats"]["unique_graphs"] == compiled


def test_dynamic_int8_with_layers_left_in_fp32(cancer, cancer_mlp):
    layers = quantizable_layers(cancer_mlp)
    model = quantize(cancer_mlp, QuantizationPlan("dynamic", "per_tensor", (layers[0],)), cancer.train.inputs)
    assert model.report["fp32_layers"] == [layers[0]]
    assert model.report["int8_layers"] == layers[1:]
    assert accuracy(model, cancer) >= accuracy(cancer_mlp, cancer) - 0.02


def test_the_quantized_model_loads_and_predicts_in_a_fresh_process(tmp_path, cancer, static_int8):
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(static_int8))
    torch.save(cancer.val.inputs[:20], tmp_path / "inputs.pt")
    expected = static_int8(cancer.val.inputs[:20]).argmax(1)
    script = (
        "import pickle, sys, torch; model = pickle.load(open(sys.argv[1], 'rb'));"
        "print(model(torch.load(sys.argv[2])).argmax(1).tolist())"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.pkl"), str(tmp_path / "inputs.pt")],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == str(expected.tolist())


def test_batch_norms_before_convolutions_become_a_scale_and_shift_that_computes_the_same(digits):
    """A DenseNet's pre-activation BatchNorms (which no convolution before them absorbs) leave the INT8 graph as the
    scale and shift they apply, with the statistics each has; the model's logits stay those of FP32."""
    torch.manual_seed(0)
    spec = {"family": "densenet", "growth_rate": 4, "block_config": [1, 1], "bn_size": 2, "compression": 0.5, "dropout": 0.0}
    densenet = build_model(spec, digits.shape, 10, DIGITS.input_layers(digits.train.moments())).eval()
    for norm in (m for m in densenet.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5), norm.bias.data.uniform_(-0.5, 0.5)
    model = quantize(densenet, QuantizationPlan("static"), digits.train.inputs[:256])
    program = ProgramModule(model.program)  # eagerly: what is computed, not how fast
    calls = [str(node.target) for node in program._runtime().graph.nodes if node.op == "call_function"]
    assert not [call for call in calls if "batch_norm" in call]
    with torch.no_grad():
        fp32, int8 = densenet(digits.val.inputs[:64]), program(digits.val.inputs[:64])
    assert ((int8 - fp32).norm() / fp32.norm()) < 0.1


@pytest.mark.parametrize("plan, message", [
    (QuantizationPlan("fp8"), "mode must be one of"),
    (QuantizationPlan("static", "per_group"), "granularity must be one of"),
    (QuantizationPlan("static", fp32_layers=("no.such.layer",)), "no.such.layer"),
    (QuantizationPlan("static", fp32_layers=("1.1", "1.5", "1.9")), "nothing to quantize"),
])
def test_a_plan_inc_cannot_apply_fails_before_any_work(cancer, cancer_mlp, plan, message):
    with pytest.raises(ConfigError, match=message):
        quantize(cancer_mlp, plan, cancer.train.inputs)


def test_unknown_settings_are_named():
    with pytest.raises(ConfigError, match="w_bits"):
        QuantizationPlan.from_params({"mode": "static", "w_bits": 4})


def test_fallback_plans_keep_the_edges_in_fp32():
    plans = fallback_plans(["a", "b", "c"])
    assert plans[0] == QuantizationPlan("static") and all(p.fp32_layers in ((), ("a", "c")) for p in plans)
    assert len(fallback_plans(["a", "b"])) == 2


class Scripted:
    """Plans mapped to (accuracy, latency ratio): the search's decisions, without INC's run time."""

    def __init__(self, outcomes):
        self.outcomes, self.built = outcomes, []

    def build(self, plan):
        self.built.append(plan)
        return plan

    def score(self, plan):
        return self.outcomes[plan][0]

    def latency(self, plan):
        return self.outcomes[plan][1]


PLANS = [QuantizationPlan("static"), QuantizationPlan("dynamic"), QuantizationPlan("static", fp32_layers=("x",))]


def test_the_search_keeps_the_fastest_within_budget_where_inc_would_stop_at_the_first():
    script = Scripted({PLANS[0]: (0.995, 0.9), PLANS[1]: (0.992, 0.6), PLANS[2]: (0.90, 0.4)})
    result = search_quantization(PLANS, script.build, script.score, script.latency, 1.0, 0.01)
    assert script.built == PLANS  # keeps going after the first within budget
    assert result.inc_choice == 0 and result.chosen == 1 and result.meets_budget
    assert [t["within_budget"] for t in result.trials] == [True, True, False]


def test_when_nothing_fits_the_search_keeps_the_most_accurate_and_says_so():
    script = Scripted({PLANS[0]: (0.90, 0.9), PLANS[1]: (0.95, 0.6), PLANS[2]: (0.93, 0.4)})
    result = search_quantization(PLANS, script.build, script.score, script.latency, 1.0, 0.01)
    assert result.chosen == 1 and not result.meets_budget and result.inc_choice is None
    assert "no configuration" in result.reason and "5.00%" in result.reason
