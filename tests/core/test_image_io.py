import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from anneal.data.image_io import decode_image, read_image, to_rgb
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
