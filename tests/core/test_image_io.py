import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from anneal.data.image_io import (
    decode_bands,
    decode_image,
    image_extent,
    read_image,
    select_bands,
    to_rgb,
)
from anneal.errors import ImageDecodeError


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_png_grey_becomes_rgb():
    out = decode_image(_png(np.full((4, 5), 7, np.uint8)))
    assert out.shape == (4, 5, 3) and (out == 7).all()


def test_tiff_four_bands_uint16_keeps_first_three_rescaled():
    data = np.zeros((3, 3, 4), np.uint16)
    data[..., 0] = 1000
    data[0, 0, 0] = 3000
    buf = io.BytesIO()
    tifffile.imwrite(buf, data)
    out = decode_image(buf.getvalue())
    assert out.shape == (3, 3, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 255 and out[1, 1, 1] == 0


def test_to_rgb_rejects_non_images():
    with pytest.raises(ImageDecodeError):
        to_rgb(np.zeros((2, 0, 3), np.uint8))


def test_garbage_and_truncated_bytes_raise(tmp_path: Path):
    with pytest.raises(ImageDecodeError, match="cannot decode"):
        decode_image(b"not an image at all")
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:200])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg"):
        read_image(path)


def _tiff(array: np.ndarray, **options) -> bytes:
    """Bands last (contig) unless options say otherwise: tifffile's default guesses planar RGB."""
    buf = io.BytesIO()
    options.setdefault("photometric", "minisblack")
    tifffile.imwrite(buf, array, **options)
    return buf.getvalue()


def test_decode_bands_keeps_samples_and_bands_as_stored():
    data = np.arange(2 * 3 * 5, dtype=np.uint16).reshape(2, 3, 5) * 1000
    out = decode_bands(_tiff(data, planarconfig="contig"))
    assert out.dtype == np.uint16 and out.shape == (2, 3, 5) and (out == data).all()
    planar = decode_bands(_tiff(np.moveaxis(data, -1, 0), planarconfig="separate"))
    assert planar.shape == (2, 3, 5) and (planar == data).all()
    grey16 = np.array([[0, 40000]], np.uint16)
    buf = io.BytesIO()
    Image.fromarray(grey16).save(buf, format="PNG")
    assert (decode_bands(buf.getvalue()) == grey16).all()


def test_image_extent_reads_the_header_only():
    assert image_extent(_tiff(np.zeros((4, 6, 13), np.uint16), planarconfig="contig")) == (4, 6, 13)
    assert image_extent(_tiff(np.zeros((13, 4, 6), np.uint16), planarconfig="separate")) == (
        4,
        6,
        13,
    )
    assert image_extent(_tiff(np.zeros((4, 6), np.float32))) == (4, 6, 1)
    assert image_extent(_png(np.zeros((7, 9, 3), np.uint8))) == (7, 9, 3)
    with pytest.raises(ImageDecodeError):
        image_extent(b"not an image")


def test_select_bands_follows_the_band_rules():
    assert select_bands(np.zeros((2, 2), np.uint16)).shape == (2, 2, 1)
    grey_alpha = np.stack([np.full((2, 2), 5), np.full((2, 2), 9)], axis=2)
    assert (select_bands(grey_alpha) == 5).all()
    rgbn = np.arange(5)[None, None, :].repeat(2, 0).repeat(2, 1)
    assert select_bands(rgbn)[0, 0].tolist() == [0, 1, 2]
