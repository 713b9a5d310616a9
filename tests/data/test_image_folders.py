"""Image folders as people have them: mixed modes and sizes, EXIF orientation, hidden files, __MACOSX,
links out of the folder, and decompression bombs."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from forgeml.data.images import image_files, load_image_folder
from forgeml.errors import DataError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    Image.fromarray(np.full((6, 8), 200, np.uint8), mode="L").save(root / "cat" / "grey.png")
    Image.fromarray(np.full((10, 10, 4), 255, np.uint8), mode="RGBA").save(root / "cat" / "rgba.png")
    Image.fromarray(np.full((7, 7, 3), 128, np.uint8)).convert("P").save(root / "dog" / "palette.png")
    Image.fromarray(np.full((5, 9), 65535, np.uint16)).save(root / "dog" / "sixteen.png")  # 16-bit grey, white
    (root / "dog" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "__MACOSX" / "dog").mkdir(parents=True)
    (root / "__MACOSX" / "dog" / "._palette.png").write_bytes(b"not an image")
    return root


def test_every_mode_and_size_is_read_and_what_is_not_an_image_is_skipped(folder):
    images = load_image_folder(folder, channels=3)
    assert sorted(images.labels) == ["cat", "cat", "dog", "dog"]
    read = [images.read(index)[0] for index in range(len(images))]
    assert [image.shape for image in read] == [(6, 8, 3), (10, 10, 3), (7, 7, 3), (5, 9, 3)]
    for image in read:
        assert image.min() >= 0.0 and image.max() <= 1.0
    sixteen = read[images.paths.index(str(folder / "dog" / "sixteen.png"))]
    assert sixteen.min() == pytest.approx(1.0)  # 65535 is white, not clipped 8-bit noise


def test_exif_orientation_is_applied(tmp_path):
    root = tmp_path / "images"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(root / label / "square.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display: stored 2 high x 6 wide, shown 6 high x 2 wide
    Image.fromarray(np.zeros((2, 6, 3), np.uint8)).save(root / "a" / "photo.jpg", exif=exif)
    images = load_image_folder(root, channels=1)
    pixels, source = images.read(images.paths.index(str(root / "a" / "photo.jpg")))
    assert pixels.shape == (6, 2, 1) and source == (6, 2)


def test_a_link_that_leaves_the_folder_is_refused(folder, tmp_path):
    outside = tmp_path / "elsewhere.png"
    Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(outside)
    (folder / "cat" / "link.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"Links that leave the image folder .*cat/link\.png"):
        image_files(folder)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 40_000], ids=["oversized", "bomb"])
def test_a_decompression_bomb_is_refused_by_name_before_decoding(folder, side):
    (folder / "dog" / "bomb.png").write_bytes(_png_claiming(side, side))
    with pytest.raises(DataError, match=r"dog/bomb\.png .*(decompression bomb|more than)"):
        load_image_folder(folder, channels=1)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_large_image_is_downscaled_while_it_is_decoded(tmp_path, suffix):
    """A 4000x3000 photo read for 32 px: what comes back is at least 64 px on its shorter side and far from full
    size, its source size is still the photo's, and the decoding process's memory stays far below the 144 MB of
    float32 a full-size decode makes (36 MB of RGB bytes at most, for a PNG, which has no reduced decode)."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    photo = tmp_path / f"photo{suffix}"
    Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)).save(photo)
    probe = ("import resource, sys\nfrom pathlib import Path\nfrom forgeml.data.images import read_image\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "pixels, source = read_image(Path(sys.argv[1]), 3, 32)\n"
             "print(pixels.shape[0], pixels.shape[1], *source, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
    height, width, source_height, source_width, grown_kb = map(int, subprocess.run(
        [sys.executable, "-c", probe, str(photo)], capture_output=True, text=True, check=True).stdout.split())
    assert (source_height, source_width) == (3000, 4000)
    assert 64 <= min(height, width) < 200 and width > height
    assert grown_kb < 60_000  # KB: a full-size float32 decode alone is 144,000
