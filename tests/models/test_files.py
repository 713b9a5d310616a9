"""A classifier written as files comes back predicting the same, for any batch size, and nothing in its folder
is a pickle; a skops file naming a foreign type is refused by name. Saved without a program example, a torch
module comes back as a module that trains again, whatever pruning or layer dropping changed in it."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from forgeml.errors import ModelFileError
from forgeml.modality import ImageModality, TableModality
from forgeml.models import TextClassifier, TorchClassifier, build_model
from forgeml.models.files import PROGRAM_FILE, WEIGHTS_FILE, load_classifier, save_classifier
from forgeml.models.program import ProgramModule, QuantizedModule
from forgeml.training.data import Moments

EXPERIMENT = {"name": "files", "target": "label"}
PICKLE_PROTOCOL = b"\x80"  # the first byte of every pickle since protocol 2
TINY_BERT = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 64}


def assert_no_pickle(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(PICKLE_PROTOCOL), path
    if (folder / PROGRAM_FILE).exists():
        with zipfile.ZipFile(folder / PROGRAM_FILE) as archive:
            json.loads(archive.read("archive/models/model.json"))  # the graph is JSON
            weights = json.loads(archive.read("archive/data/weights/model_weights_config.json"))
            assert weights["config"] and not any(entry["use_pickle"] for entry in weights["config"].values())


@pytest.mark.parametrize(("model", "modality", "shape"), [
    ({"family": "mlp", "hidden": [8], "dropout": 0.2, "batch_norm": True}, TableModality(EXPERIMENT), (16,)),
    ({"family": "resnet", "block": "basic", "layers": [1, 1], "base_width": 4, "stem": "small"},
     ImageModality({**EXPERIMENT, "image": {"channels": 1, "size": 4}}), (1, 4, 4)),
], ids=["mlp", "resnet"])
def test_a_torch_classifier_comes_back_predicting_the_same_at_any_batch_size(tmp_path, model, modality, shape):
    torch.manual_seed(0)
    module = build_model(model, shape, 3, modality.input_layers(Moments.of([torch.rand(8, *shape)])))
    classifier = TorchClassifier(module.eval(), np.array([2, 4, 8]))
    rows = np.random.default_rng(0).random((5, int(np.prod(shape))), dtype=np.float32)

    save_classifier(classifier, tmp_path / "classifier", program_example=rows)
    loaded = load_classifier(tmp_path / "classifier")

    assert isinstance(loaded.module, ProgramModule)
    for batch in (rows[:1], rows):
        np.testing.assert_allclose(loaded.predict_proba(batch), classifier.predict_proba(batch), atol=1e-5)
    assert loaded.classes_.tolist() == [2, 4, 8]
    assert_no_pickle(tmp_path / "classifier")


def test_an_int8_classifier_keeps_its_program_and_report(tmp_path):
    from forgeml.compression.quantization import QuantizationPlan, quantize

    torch.manual_seed(0)
    module = build_model({"family": "mlp", "hidden": [16]}, [8], 2).eval()
    rows = torch.rand(64, 8)
    classifier = TorchClassifier(quantize(module, QuantizationPlan("dynamic", "per_tensor"), rows), np.array(["a", "b"]))

    save_classifier(classifier, tmp_path / "int8", program_example=rows.numpy())
    loaded = load_classifier(tmp_path / "int8")

    assert isinstance(loaded.module, QuantizedModule) and loaded.module.program == classifier.module.program
    assert loaded.module.report == classifier.module.report and loaded.module.tensor_bytes() > 0
    np.testing.assert_allclose(loaded.predict_proba(rows.numpy()[:4]), classifier.predict_proba(rows.numpy()[:4]), atol=1e-6)
    assert_no_pickle(tmp_path / "int8")


def test_a_text_classifier_comes_back_with_its_tokenizer_and_truncation(tmp_path):
    from forgeml.text.tokenization import BUNDLED_MODEL, load_tokenizer

    torch.manual_seed(0)
    module = build_model({"family": "bert", "config": TINY_BERT, "pooling": "mean"}, (2, 12), 2).eval()
    classifier = TextClassifier(module, np.array(["neg", "pos"]), load_tokenizer(BUNDLED_MODEL), 12, head_tokens=4,
                                batch_size=2)
    texts = np.array(["a fine film", "dull and long, far too long for anyone to sit through", "ok"], dtype=object)

    save_classifier(classifier, tmp_path / "text", program_example=texts)
    loaded = load_classifier(tmp_path / "text")

    assert (loaded.max_length, loaded.head_tokens, loaded.batch_size) == (12, 4, 2)
    np.testing.assert_allclose(loaded.predict_proba(texts), classifier.predict_proba(texts), atol=1e-5)
    assert_no_pickle(tmp_path / "text")


def assert_the_same_module_that_trains(folder, loaded, module, inputs):
    assert (folder / WEIGHTS_FILE).exists() and not isinstance(loaded, ProgramModule)
    assert loaded.blueprint == module.blueprint
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(inputs), module.eval()(inputs))
    loaded.train()(inputs).sum().backward()
    assert all(parameter.grad is not None for parameter in loaded.parameters() if parameter.requires_grad)


def test_without_a_program_example_a_module_comes_back_as_its_blueprint_and_weights_even_channel_pruned(tmp_path):
    from forgeml.compression.pruning import prune_structured

    torch.manual_seed(0)
    modality = ImageModality({**EXPERIMENT, "image": {"channels": 1, "size": 8}})
    images = torch.rand(16, 1, 8, 8)
    model = {"family": "resnet", "block": "basic", "layers": [1, 1], "base_width": 8, "stem": "small"}
    module = build_model(model, (1, 8, 8), 3, modality.input_layers(Moments.of([images])))
    prune_structured(module, images[:2], 0.5, 1, lambda pruned: None)
    classifier = TorchClassifier(module, np.array([2, 4, 8]))
    assert module.blueprint.build()[-1].stem[0].out_channels == 8 > module[-1].stem[0].out_channels  # narrower now

    save_classifier(classifier, tmp_path / "pruned")
    loaded = load_classifier(tmp_path / "pruned")

    assert loaded.module[-1].stem[0].out_channels == module[-1].stem[0].out_channels
    assert loaded.classes_.tolist() == [2, 4, 8]
    assert_the_same_module_that_trains(tmp_path / "pruned", loaded.module, module, images.flatten(1))
    assert_no_pickle(tmp_path / "pruned")


def test_a_student_keeping_some_of_its_teachers_layers_comes_back_with_those_layers(tmp_path):
    from forgeml.text.tokenization import BUNDLED_MODEL, load_tokenizer

    torch.manual_seed(0)
    module = build_model({"family": "bert", "config": {**TINY_BERT, "num_hidden_layers": 3}}, (2, 12), 2).eval()
    module.keep_layers([0, 2])
    module.blueprint = module.blueprint.with_config({**module.blueprint.config, "layers": [0, 2]})
    classifier = TextClassifier(module, np.array(["neg", "pos"]), load_tokenizer(BUNDLED_MODEL), 12)

    save_classifier(classifier, tmp_path / "student")
    loaded = load_classifier(tmp_path / "student")

    assert loaded.module.num_layers == 2
    tokens = classifier.tokenizer(["a fine film", "dull"], padding="max_length", max_length=12, return_tensors="pt")
    assert_the_same_module_that_trains(tmp_path / "student", loaded.module, module,
                                       torch.stack([tokens["input_ids"], tokens["attention_mask"]], 1))


def test_a_module_without_a_blueprint_needs_a_program_example(tmp_path):
    classifier = TorchClassifier(torch.nn.Linear(3, 2), np.array([0, 1]))
    with pytest.raises(ModelFileError, match="no blueprint"):
        save_classifier(classifier, tmp_path / "linear")


class Halve:
    """Not a scikit-learn type: a skops file naming it is not loaded."""

    def __call__(self, values):
        return values / 2


def test_a_scikit_learn_reference_comes_back_and_a_foreign_type_is_refused(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rows = np.random.default_rng(0).random((40, 3))
    labels = (rows[:, 0] > 0.5).astype(int)
    reference = HistGradientBoostingClassifier(max_iter=10).fit(rows, labels)
    save_classifier(reference, tmp_path / "hgb")
    assert (load_classifier(tmp_path / "hgb").predict(rows) == reference.predict(rows)).all()
    assert_no_pickle(tmp_path / "hgb")

    foreign = make_pipeline(FunctionTransformer(Halve()), HistGradientBoostingClassifier(max_iter=10)).fit(rows, labels)
    save_classifier(foreign, tmp_path / "foreign")
    with pytest.raises(ModelFileError, match=r"estimator.skops names types outside scikit-learn.*test_files.Halve"):
        load_classifier(tmp_path / "foreign")
