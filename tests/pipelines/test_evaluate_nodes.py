"""The evaluate stage's node, in-process on tiny data."""

import torch
from torch._dynamo.utils import counters

from forgeml.compression.quantization import QuantizationPlan, quantize
from forgeml.modality import modality_of
from forgeml.models import TorchClassifier, build_model
from forgeml.pipelines.evaluate.nodes import evaluate_candidates
from forgeml.training.data import Moments

EXPERIMENT = {"name": "breast_cancer", "target": "target", "modality": "table"}


def test_an_int8_candidate_is_scored_and_timed_on_one_thread_count_and_compiles_once(breast_cancer):
    """A compiled INT8 model compiles again on another thread count; the stage scores it on the threads it times
    it on (here two, where the process runs on one), so an INT8 model that takes any batch compiles once."""
    modality = modality_of(EXPERIMENT)
    train, _, test = modality.split(breast_cancer, 0.2, 0.15, seed=0)
    inputs = torch.tensor(modality.inputs(train))
    module = build_model({"family": "mlp", "hidden": [8]}, inputs.shape[1:], 2, modality.input_layers(Moments.of([inputs]))).eval()
    classes = train["target"].unique()
    int8 = TorchClassifier(quantize(module, QuantizationPlan("dynamic", "per_tensor"), inputs, dynamic_shapes=True), classes)
    params = {"seed": 0, "latency_batch_sizes": [1, 8], "latency_repeats": 2, "latency_threads": 2,
              "robustness": {"seed": 0, "levels": {"noise": [0.1]}}}
    threads, graphs = torch.get_num_threads(), counters["stats"]["unique_graphs"]

    _, predictions, metrics, _, _, environment = evaluate_candidates({"int8": int8}, {}, {}, test, EXPERIMENT, params)

    assert counters["stats"]["unique_graphs"] - graphs == 1
    assert torch.get_num_threads() == threads == 1 and environment["threads"] == 2  # pinned for the stage, then restored
    as_fp32 = TorchClassifier(module, classes).predict(modality.inputs(test))
    assert (predictions["int8"].to_numpy() == as_fp32).mean() > 0.9 and 0 < metrics["int8"]["latency_b8_p50_ms"]
