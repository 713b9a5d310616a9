"""Images: loading a class-per-folder tree or a bundled set, and turning images into a pixel table.

An image experiment keeps its images as a table: one row per image, one column per pixel value
(``pixel_c{channel}_y{row}_x{column}``, in [0, 1]) and the label column. Every later stage
(split, train, evaluate, registry, serving) then works on images and tables alike; image models
reshape the rows back to (channels, height, width) as their first layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class ImageSet:
    """Images as float arrays (height, width, channels) in [0, 1], with their labels and where each came from."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def load_image_folder(root: Path, channels: int = 3) -> ImageSet:
    """Read ``root/<class>/*.png|jpg|jpeg``; the sub-folder names are the labels.

    Raises DataError naming the folder or file at fault: a missing root, a class folder without
    images, a file that cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The image folder {root} does not exist. Point `path` of the catalog entry `source` at a folder with one sub-folder per class.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"The image folder {root} has no class sub-folders; put each class's images in root/<class name>/.")
    mode = {1: "L", 3: "RGB"}[channels]
    found = ImageSet()
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"The class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES)}). "
                "Add images to it or remove the folder."
            )
        for path in files:
            try:
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError, SyntaxError) as error:
                raise DataError(f"Cannot read the image {path}: {error}. Replace or remove the file.") from error
            found.images.append(pixels.reshape(pixels.shape[0], pixels.shape[1], channels))
            found.labels.append(class_dir.name)
            found.paths.append(str(path))
    return found


def load_bundled_images(name: str) -> ImageSet:
    """scikit-learn's ``digits`` as 8x8 grey images in [0, 1] (its pixels count 0 to 16)."""
    from sklearn import datasets

    if name != "digits":
        raise DataError(f"Unknown bundled image set {name!r}; the bundled image set is 'digits'.")
    bunch = datasets.load_digits()
    images = [(image / 16.0).astype(np.float32)[:, :, None] for image in bunch.images]
    return ImageSet(images, bunch.target.tolist(), [f"digits[{i}]" for i in range(len(images))])


def pixel_columns(channels: int, size: int) -> list[str]:
    return [f"pixel_c{c}_y{y}_x{x}" for c in range(channels) for y in range(size) for x in range(size)]


def images_to_table(images: ImageSet, size: int, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Resize every image to ``size`` x ``size`` (antialiased bilinear) and return the pixel table and a manifest.

    The manifest has one row per image (path, label, source height and width, channels, pixel
    range after resizing): what the image expectation suite checks.
    """
    import torch
    from torch.nn import functional as F

    if not images.images:
        raise DataError("The image source holds no images.")
    channels = images.images[0].shape[2]
    rows, manifest = [], []
    for pixels, label, path in zip(images.images, images.labels, images.paths):
        tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
        if tensor.shape[-2:] != (size, size):
            tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        resized = tensor[0].clamp(0.0, 1.0).numpy()
        rows.append(resized.reshape(-1))
        manifest.append({
            "path": path, target: label, "source_height": pixels.shape[0], "source_width": pixels.shape[1],
            "channels": pixels.shape[2], "pixel_min": float(resized.min()), "pixel_max": float(resized.max()),
        })
    table = pd.DataFrame(np.stack(rows), columns=pixel_columns(channels, size))
    table[target] = images.labels
    return table, pd.DataFrame(manifest)
