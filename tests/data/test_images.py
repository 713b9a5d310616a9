import numpy as np
import pytest
from PIL import Image

from forgeml.data import images as images_module
from forgeml.data.images import (CONTENT_KEY, MANIFEST, PIXELS, image_table, images_to_table, load_bundled_images,
                                 load_image_folder, pixel_rows, resized)
from forgeml.data.split import content_keys, key_digests
from forgeml.errors import DataError
from forgeml.modality import modality_of


def write_folder(root, classes=("cat", "dog"), per_class=3, size=(12, 10)):
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def test_folder_of_class_folders_loads_with_labels_and_paths(tmp_path):
    images = load_image_folder(write_folder(tmp_path / "images"), channels=1)
    assert images.labels == ["cat"] * 3 + ["dog"] * 3
    assert images.paths[0].endswith("cat/0.png")
    first, source = images.read(0)
    assert first.shape == (12, 10, 1) and source == (12, 10)
    assert 0.0 <= first.min() and first.max() <= 1.0


def test_corrupt_file_is_named(tmp_path):
    root = write_folder(tmp_path / "images")
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"Cannot read the image .*dog/broken\.png"):
        load_image_folder(root)


def test_class_folder_without_images_is_named(tmp_path):
    root = write_folder(tmp_path / "images")
    (root / "bird").mkdir()
    (root / "bird" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*bird has no images"):
        load_image_folder(root)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_images_become_a_resized_pixel_table_with_their_manifest(tmp_path):
    images = load_image_folder(write_folder(tmp_path / "images"), channels=3)
    table = images_to_table(images, size=8, target="label")
    manifest = table[list(MANIFEST)]
    assert list(table.columns) == [PIXELS, "label", *MANIFEST]
    assert len(table) == 6 and table["label"].tolist() == images.labels
    rows = pixel_rows(table[PIXELS])
    assert rows.shape == (6, 3 * 8 * 8) and rows.dtype == np.float32 and rows.min() >= 0 and rows.max() <= 1
    first, _ = images.read(0, 8)
    np.testing.assert_array_equal(rows[0], resized(first, 8).reshape(-1))  # the 8-bit values, as a PNG holds them
    assert manifest[["source_height", "source_width", "channels"]].iloc[0].tolist() == [12, 10, 3]
    assert manifest["path"].tolist() == images.paths
    assert rows.min() == pytest.approx(manifest["pixel_min"].min()) and rows.max() == pytest.approx(manifest["pixel_max"].max())
    assert manifest[CONTENT_KEY].tolist() == content_keys(rows).tolist()  # keyed as the models see them


def test_the_image_table_is_decoded_a_batch_at_a_time_each_time_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "IMAGES_PER_BATCH", 4)
    images = load_image_folder(write_folder(tmp_path / "images"), channels=3)
    decoded = []
    reader = images.reader
    images.reader = lambda index, size: decoded.append(index) or reader(index, size)
    table = image_table(images, size=8, target="label")
    assert not decoded and len(table) == 6  # nothing decoded until it is read
    assert [len(batch) for batch in table] == [4, 2] and decoded == list(range(6))
    assert table.frame("path", "label").columns.tolist() == ["path", "label"] and len(decoded) == 12
    experiment = {"name": "a", "target": "label", "modality": "image", "image": {"channels": 3, "size": 8}}
    digests, labels = modality_of(experiment).digests_and_labels(table)  # what a duplicates policy needs
    assert len(decoded) == 18 and labels.tolist() == list(map(str, images.labels))  # one more read, not one each
    assert digests.tolist() == key_digests(table.frame(CONTENT_KEY)[CONTENT_KEY]).tolist()


def test_bundled_digits_are_8x8_grey_in_unit_range():
    digits = load_bundled_images("digits")
    images = [digits.read(index)[0] for index in range(len(digits))]
    assert len(images) == 1797 and images[0].shape == (8, 8, 1)
    assert max(image.max() for image in images) == 1.0
    table = images_to_table(digits, size=8, target="target")
    # at its own size an image is not resampled: the table holds the pixels as loaded, at 8 bits
    stored = pixel_rows(table[PIXELS])[5]
    np.testing.assert_allclose(stored, images[5].reshape(-1), atol=0.5 / 255)
    np.testing.assert_array_equal(np.round(stored * 255) / 255, stored)
