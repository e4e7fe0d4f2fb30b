import io
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
from image_bytes import jpeg_claiming, png_header, tiff_claiming, tiff_with_lying_strip
from PIL import Image

from anneal.data.image_header import NOT_AN_IMAGE, read_header
from anneal.data.image_io import (
    decode_bands,
    decode_image,
    image_extent,
    read_image,
    select_bands,
    to_rgb,
)
from anneal.data.image_limits import DEFAULT_LIMITS, ImageLimits
from anneal.errors import ImageDecodeError, ImageTooLargeError


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


# -- limits, checked from the header before decoding (issue 9) ---------------------------------

HUGE = "image is 30000 x 30000 = 900,000,000 pixels, over the limit of 67,108,864 pixels;"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: jpeg_claiming(30000, 30000), id="jpeg"),
        pytest.param(lambda: png_header(30000, 30000), id="png"),
        pytest.param(lambda: png_header(30000, 30000, bit_depth=16, colour_type=0), id="png16"),
        pytest.param(lambda: tiff_claiming(30000, 30000), id="tiff"),
        pytest.param(lambda: tiff_claiming(30000, 30000, bigtiff=True), id="bigtiff"),
        pytest.param(lambda: tiff_claiming(30000, 30000, tile=(16, 16)), id="tiled"),
        pytest.param(
            lambda: tiff_claiming(
                30000, 30000, np.zeros((3, 16, 16), np.uint16), planarconfig="separate"
            ),
            id="planar",
        ),
        pytest.param(lambda: tiff_claiming(30000, 30000, compression="zlib"), id="deflate"),
        pytest.param(lambda: tiff_claiming(30000, 30000, compression="lzw"), id="lzw"),
        pytest.param(
            lambda: tiff_claiming(30000, 30000, np.zeros((4, 16, 16), np.uint8)), id="multipage"
        ),
    ],
)
def test_a_huge_scene_is_refused_from_its_header_in_every_format(make) -> None:
    data = make()
    assert len(data) < 4096
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as refused:
        decode_image(data)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(refused.value) == HUGE + " downscale or tile it"
    assert seconds < 1.0 and peak < 4 * 1024 * 1024  # refused at once, nothing allocated


def test_band_bit_depth_and_decoded_byte_limits() -> None:
    with pytest.raises(ImageTooLargeError, match="40 bands, over the limit of 32 bands"):
        decode_bands(_tiff(np.zeros((2, 2, 40), np.uint8), planarconfig="contig"))
    float32 = _tiff(np.zeros((2, 2), np.float32))
    assert decode_bands(float32).dtype == np.float32  # 32-bit samples are within the default
    with pytest.raises(ImageTooLargeError, match="32-bit samples, over the limit of 16 bits"):
        decode_bands(float32, ImageLimits(max_bits_per_sample=16))
    # 8000 x 8000 is within the pixel limit, but 13 bands of 16 bits are 1.66 GB decoded
    stack = tiff_claiming(8000, 8000, np.zeros((16, 16, 13), np.uint16), planarconfig="contig")
    with pytest.raises(ImageTooLargeError) as refused:
        decode_bands(stack)
    assert str(refused.value) == (
        "image is 8000 x 8000 pixels x 13 bands x 16 bits = 1,664,000,000 bytes decoded, over"
        " the limit of 268,435,456 bytes; downscale, tile or drop bands"
    )
    assert DEFAULT_LIMITS.max_decoded_bytes == 4 * DEFAULT_LIMITS.max_pixels


def test_image_data_larger_than_its_header_says_is_refused_without_inflating_it() -> None:
    data = tiff_with_lying_strip(64 * 1024 * 1024)
    assert image_extent(data) == (16, 16, 1)  # the header is honest-looking
    tracemalloc.start()
    with pytest.raises(ImageDecodeError, match="larger than its header says"):
        decode_bands(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # the 64 MiB the strip inflates to are never allocated


def test_a_multipage_tiff_is_its_first_page() -> None:
    pages = np.stack([np.full((3, 5), 10 * (page + 1), np.uint16) for page in range(4)])
    data = _tiff(pages)
    assert image_extent(data) == (3, 5, 1)
    assert (decode_bands(data) == 10).all()


def test_undecodable_bytes_get_our_message_not_a_library_repr() -> None:
    with pytest.raises(ImageDecodeError) as refused:
        decode_image(b"GIF89a not one of ours")
    assert str(refused.value) == NOT_AN_IMAGE
    broken_png = png_header(4, 4)  # its pixel data is one byte: truncated
    with pytest.raises(ImageDecodeError) as refused:
        decode_image(broken_png)
    assert str(refused.value) == "cannot decode PNG: its data is damaged or truncated"
    with pytest.raises(ImageDecodeError, match="compression 7 is not supported"):
        image_extent(_tiff(np.zeros((16, 16, 3), np.uint8), photometric="rgb", compression="jpeg"))


def test_pillow_global_bomb_guard_is_neither_needed_nor_changed() -> None:
    pillow_limit = Image.MAX_IMAGE_PIXELS
    assert pillow_limit is not None and DEFAULT_LIMITS.max_pixels < pillow_limit
    with pytest.raises(ImageTooLargeError, match="over the limit of 67,108,864 pixels"):
        decode_image(png_header(20000, 20000))  # Pillow's Image.open would raise its own error
    DEFAULT_LIMITS.check(read_header(png_header(8192, 8192)))  # at the limit: accepted
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


def test_to_rgb_rescales_wide_samples_block_by_block() -> None:
    ramp = np.arange(600 * 4096, dtype=np.uint32).reshape(600, 4096)  # 2 blocks of rows
    out = to_rgb(ramp)
    expected = (ramp.astype(np.float64) * (255.0 / ramp.max())).astype(np.uint8)
    assert out.shape == (600, 4096, 3) and out.dtype == np.uint8
    assert np.abs(out[..., 1].astype(int) - expected).max() <= 1  # float32 rounding
    assert out[0, 0, 0] == 0 and out[-1, -1, 2] == 255
