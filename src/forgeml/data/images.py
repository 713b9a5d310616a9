"""Images: loading a class-per-folder tree or a bundled set, and turning images into an image table.

An image experiment keeps its images as a table (``image_table``): one row per image, its 8-bit pixel values
(channel by row by column, as an image file holds them) as the bytes of one column ``pixels``, the label column,
and its manifest (``MANIFEST``: path, source size, channels, pixel range, content key). The table is made a batch
of images at a time each time it is read, so the data stage never holds a folder's pixels whole; the check reads
the manifest, the split the content keys. Every later stage (train, evaluate) asks the modality for the rows'
inputs (``pixel_rows``: float32 in [0, 1]); image models reshape them to (channels, height, width) as their first
layer. A registered image model takes the encoded image (forgeml.registry.pyfunc.ImageClassifierModel) and
decodes and resizes it here, as the data stage did, so a PNG of a test row scores as that row did.
"""

from __future__ import annotations

import io
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pandas as pd

from forgeml.data.batches import Batches
from forgeml.data.split import content_keys
from forgeml.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PIXELS = "pixels"  # the pixel table's column of each image's 8-bit values


@dataclass
class ImageSet:
    """Images with their labels and where each came from, read one at a time by ``read(index, size)``: the image
    as (height, width, channels) floats in [0, 1], at least ``size`` on its shorter side where it was larger
    (None: as it is), with its source height and width. A folder's images are decoded only then, downscaled while
    decoding, so no image is ever held at full size and no set is held whole."""

    labels: list = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    reader: Callable[[int, int | None], tuple[np.ndarray, tuple[int, int]]] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, index: int, size: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        return self.reader(index, size)


def image_files(root: Path) -> list[tuple[str, Path]]:
    """``(label, path)`` of every image under ``root/<class>/``, in a fixed order; hidden files and folders
    and ``__MACOSX`` (what macOS zips add) are not images of a class.

    Raises DataError naming the folder at fault: a missing root, no class folders, a class folder without images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The image folder {root} does not exist. Point `path` of the catalog entry `source` at a folder with one sub-folder per class.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _skipped(p))
    if not class_dirs:
        raise DataError(f"The image folder {root} has no class sub-folders; put each class's images in root/<class name>/.")
    found = []
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not _skipped(p))
        if not files:
            raise DataError(
                f"The class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES)}). "
                "Add images to it or remove the folder."
            )
        found.extend((class_dir.name, path) for path in files)
    outside = [str(path) for _, path in found if not path.resolve().is_relative_to(root.resolve())]
    if outside:
        raise DataError(f"Links that leave the image folder {root} are refused (the data must be what DVC versions): "
                        f"{', '.join(outside[:5])}. Copy the images into the folder instead.")
    return found


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"


SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I"}
ORIENTATION = 0x0112  # the EXIF tag
MAX_PIXELS = 50_000_000  # per image: more is a decompression bomb or a photo no classifier here needs


def open_image(source: Path | BinaryIO, name: str):
    """The image at ``source`` (a path or an open stream), opened (its header read, nothing decoded). A DataError
    naming it (``name``: the file, or the row of a request) when it is not an image or claims more than
    MAX_PIXELS."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(source)
    except Image.DecompressionBombError as error:
        raise DataError(f"The image {name} is a decompression bomb ({error}).") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"Cannot read the image {name}: {error}.") from error
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise DataError(f"The image {name} claims {image.width}x{image.height} pixels, more than {MAX_PIXELS:,}: "
                        "a decompression bomb or an oversized photo.")
    return image


def decode_image(source: Path | BinaryIO, name: str, channels: int,
                 size: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """An image as (height, width, channels) floats in [0, 1], upright as its EXIF orientation says, and its
    source height and width (as shown, after orientation); a DataError naming it (``name``) where it cannot be.

    Any PIL mode is read: grey, RGB, RGBA (alpha dropped), palette, 16-bit grey (scaled by 65535). With ``size``,
    an image larger than twice that on its shorter side is downscaled while it is decoded (Pillow's ``draft``:
    JPEG decodes at 1/2, 1/4 or 1/8 scale) and then by a whole factor (``reduce``), to no less than twice
    ``size``, so the antialiased resize that follows sees enough pixels; the full-size floats never exist."""
    from PIL import Image, ImageOps

    with open_image(source, name) as image:
        try:
            turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)  # shown a quarter turn from how it is stored
            shown = (image.width, image.height) if turned else (image.height, image.width)
            if size and min(shown) > 2 * size:
                scale = 2 * size / min(shown)
                image.draft(image.mode, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                factor = min(image.width, image.height) // (2 * size)
                if factor > 1:
                    image = image.reduce(factor)
            image = ImageOps.exif_transpose(image)
            if image.mode in SIXTEEN_BIT_MODES:
                grey = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)[:, :, None]
                return (grey if channels == 1 else np.repeat(grey, 3, axis=2)), shown
            pixels = np.asarray(image.convert({1: "L", 3: "RGB"}[channels]), dtype=np.float32) / 255.0
        except Image.DecompressionBombError as error:
            raise DataError(f"The image {name} is a decompression bomb ({error}).") from error
        except (OSError, SyntaxError, ValueError) as error:
            raise DataError(f"Cannot read the image {name}: {error}.") from error
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels), shown


def read_image(path: Path, channels: int, size: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The image file at ``path`` (``decode_image``); a DataError naming the file, to replace or remove."""
    with _in_a_file():
        return decode_image(path, str(path), channels, size)


@contextmanager
def _in_a_file() -> Iterator[None]:
    """An image error of the data stage says what to do with the file (a served image's names its row)."""
    try:
        yield
    except DataError as error:
        raise DataError(f"{error} Replace or remove the file.") from error.__cause__


def resized(pixels: np.ndarray, size: int) -> np.ndarray:
    """(height, width, channels) floats as (channels, size, size), antialiased bilinear, at 8 bits per channel:
    what a PNG of it holds, so the served model, sent that PNG, sees the very pixels the model was tested on."""
    return unit_range(resized_8bit(pixels, size))


def resized_8bit(pixels: np.ndarray, size: int) -> np.ndarray:
    """``resized``, as the 8-bit values (uint8) the pixel table stores."""
    import torch
    from torch.nn import functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return np.round(tensor[0].clamp(0.0, 1.0).numpy() * 255.0).astype(np.uint8)


def pixel_rows(pixels: pd.Series) -> np.ndarray:
    """The pixel table's ``pixels`` column as flat float32 rows in [0, 1], what the models take."""
    return unit_range(pixel_values(pixels))


def pixel_values(pixels: pd.Series) -> np.ndarray:
    """The pixel table's ``pixels`` column as flat rows of 8-bit values (uint8)."""
    if not len(pixels):
        return np.zeros((0, 0), np.uint8)
    return np.frombuffer(b"".join(pixels), np.uint8).reshape(len(pixels), -1)


def unit_range(values: np.ndarray) -> np.ndarray:
    """8-bit values as float32 in [0, 1]."""
    return values.astype(np.float32) / 255.0


def png_bytes(pixels: np.ndarray) -> bytes:
    """(channels, height, width) floats in [0, 1] as a PNG (grey or RGB), rounded to 8 bits."""
    from PIL import Image

    image = np.round(np.moveaxis(pixels, 0, -1) * 255.0).astype(np.uint8)
    stream = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(stream, format="PNG")
    return stream.getvalue()


def load_image_folder(root: Path, channels: int = 3) -> ImageSet:
    """The images of ``root/<class>/*.png|jpg|jpeg`` (``image_files``), the sub-folder names as labels, each
    decoded when it is read (``read_image``).

    Raises DataError naming the folder or file at fault, as ``image_files`` does, and naming a file that is not
    an image or claims more than MAX_PIXELS: every header is read here, nothing is decoded.
    """
    found = image_files(root)
    for _, path in found:
        with _in_a_file():
            open_image(path, str(path)).close()
    paths = [path for _, path in found]
    return ImageSet([label for label, _ in found], [str(path) for path in paths],
                    lambda index, size: read_image(paths[index], channels, size))


def load_bundled_images(name: str) -> ImageSet:
    """scikit-learn's ``digits`` as 8x8 grey images in [0, 1] (its pixels count 0 to 16)."""
    from sklearn import datasets

    if name != "digits":
        raise DataError(f"Unknown bundled image set {name!r}; the bundled image set is 'digits'.")
    bunch = datasets.load_digits()
    images = [(image / 16.0).astype(np.float32)[:, :, None] for image in bunch.images]
    return ImageSet(bunch.target.tolist(), [f"digits[{i}]" for i in range(len(images))],
                    lambda index, size: (images[index], images[index].shape[:2]))


IMAGES_PER_BATCH = 256  # decoded together: 12 MB of 8-bit pixels at 128 px RGB
CONTENT_KEY = "content_key"  # the SHA-1 of the float32 pixels the models see (forgeml.data.split.content_keys)
MANIFEST = ("path", "source_height", "source_width", "channels", "pixel_min", "pixel_max", CONTENT_KEY)


def image_table(images: ImageSet, size: int, target: str) -> Batches:
    """The image table, made ``IMAGES_PER_BATCH`` images at a time as it is read: each image resized to ``size`` x
    ``size`` (``resized_8bit``), its 8-bit pixels in the column ``PIXELS``, its label, and its manifest (path,
    source height and width, channels, pixel range after resizing, content key), which the image expectation
    suite checks and which splits it without reading a pixel."""
    if not len(images):
        raise DataError("The image source holds no images.")
    if target in (PIXELS, *MANIFEST):
        raise DataError(f"An image experiment's `target` cannot be {target!r}: the image table keeps its own column there.")

    def read(columns):
        for begin in range(0, len(images), IMAGES_PER_BATCH):
            batch = _image_rows(images, range(begin, min(begin + IMAGES_PER_BATCH, len(images))), size, target)
            yield batch if columns is None else batch[list(columns)]

    return Batches(len(images), read)


def _image_rows(images: ImageSet, indices: range, size: int, target: str) -> pd.DataFrame:
    rows = []
    for index in indices:
        pixels, (height, width) = images.read(index, size)
        image = resized_8bit(pixels, size)
        rows.append({
            PIXELS: image.tobytes(), target: images.labels[index], "path": images.paths[index],
            "source_height": height, "source_width": width, "channels": pixels.shape[2],
            "pixel_min": image.min() / 255.0, "pixel_max": image.max() / 255.0,
            CONTENT_KEY: content_keys([unit_range(image)])[0],
        })
    return pd.DataFrame(rows)


def images_to_table(images: ImageSet, size: int, target: str) -> pd.DataFrame:
    """``image_table`` whole, in memory: for small sets (tests, benchmarks on the bundled digits)."""
    return image_table(images, size, target).frame()
