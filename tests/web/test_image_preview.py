"""Archive images as previews: tiny images made here, whose right renderings follow by hand."""

from __future__ import annotations

import io
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tifffile
from image_bytes import png_header
from PIL import Image

from anneal.data.image_io import to_rgb
from services.common.errors import ResourceExhaustedError
from services.web.image_preview import ImagePreviews, Preview
from services.web.preview_render import fit_size, stretch, stretch_limits

RED = (200, 30, 30)
BLUE = (30, 40, 200)


def _tiff(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, photometric="minisblack", planarconfig="contig")
    return path


def _picture(path: Path, array: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


def _solid(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.tile(np.array(rgb, np.uint8), (height, width, 1))


def _noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _pixels(preview: Preview) -> np.ndarray:
    with Image.open(io.BytesIO(preview.data)) as image:
        return np.asarray(image).astype(int)


def _hot_pixel_scene() -> np.ndarray:
    """10 x 10 uint16: a row of 1000, 8 rows of 1500 (one of them 65535), a row of 2000.

    Sorted, indices 0-9 are 1000, 10-88 are 1500, 89-98 are 2000, 99 is 65535; numpy's linear
    percentiles sit at index 0.02 * 99 = 1.98 (1000) and 0.98 * 99 = 97.02 (2000). So the
    stretch maps 1000 -> 0, 1500 -> 127.5 -> 128, 2000 and 65535 -> 255.
    """
    scene = np.full((10, 10), 1500, np.uint16)
    scene[0] = 1000
    scene[9] = 2000
    scene[5, 5] = 65535
    return scene


@pytest.fixture
def root(tmp_path: Path) -> Path:
    archive = tmp_path / "archive"
    archive.mkdir()
    return archive


# -- rendering -------------------------------------------------------------------------------


def test_stretch_of_a_hot_pixel_scene_is_computed_by_hand():
    scene = _hot_pixel_scene()
    lo, hi = stretch_limits(scene)
    assert (lo, hi) == (1000.0, 2000.0)
    out = stretch(scene, lo, hi)
    assert out[0].tolist() == [0] * 10 and out[9].tolist() == [255] * 10
    assert out[5, 5] == 255 and out[3, 3] == 128 and np.median(out) == 128
    # the model's min-max rescaling, shown as is, would put the scene near black
    assert np.median(to_rgb(scene)) <= 2


def test_hot_pixel_does_not_darken_a_16_bit_tiff(root: Path):
    _tiff(root / "scene.tif", _hot_pixel_scene())
    preview = ImagePreviews(root).render("scene.tif", 64)
    assert preview.media_type == "image/jpeg"
    assert (preview.width, preview.height) == (10, 10)  # smaller than 64: not upscaled
    out = _pixels(preview)
    assert out.shape == (10, 10)  # one band: grey
    assert abs(np.median(out) - 128) <= 2
    assert abs(out[0].mean() - 0) <= 4 and abs(out[9].mean() - 255) <= 4


def test_four_band_scene_shows_bands_one_to_three_as_rgb(root: Path):
    # R high on the left, G high at the top, B constant (black); the 4th band (NIR) is a
    # loud checkerboard that would show in any channel it reached
    scene = np.full((32, 32, 4), 1000, np.uint16)
    scene[:, :16, 0] = 2000
    scene[:16, :, 1] = 2000
    scene[:, :, 2] = 1500
    scene[::2, ::2, 3] = 60000
    _tiff(root / "rgbn.tif", scene)
    out = _pixels(ImagePreviews(root).render("rgbn.tif", 64))
    assert out.shape == (32, 32, 3)
    expected = {(8, 8): (255, 255, 0), (8, 24): (0, 255, 0), (24, 8): (255, 0, 0)}
    expected[(24, 24)] = (0, 0, 0)
    for (y, x), rgb in expected.items():
        assert np.abs(out[y, x] - rgb).max() <= 8, ((y, x), out[y, x])


@pytest.mark.parametrize(
    "scene",
    [
        np.full((6, 8), 7, np.uint16),
        np.full((6, 8, 3), 0.5, np.float32),
        np.full((6, 8), np.nan, np.float32),
    ],
    ids=["uint16", "float-rgb", "all-nan"],
)
def test_constant_scene_renders_black_without_dividing_by_zero(root: Path, scene: np.ndarray):
    _tiff(root / "flat.tif", scene)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero or NaN cast would warn
        out = _pixels(ImagePreviews(root).render("flat.tif", 64))
    assert out.shape[:2] == (6, 8) and (out == 0).all()


def test_float_scene_with_nan_and_inf_keeps_its_contrast(root: Path):
    scene = np.tile(np.linspace(0.0, 1.0, 16, dtype=np.float32), (16, 1))
    scene[0, 0], scene[0, 1], scene[0, 2] = np.nan, np.inf, -np.inf
    _tiff(root / "float.tif", scene)
    out = _pixels(ImagePreviews(root).render("float.tif", 64))
    assert out[8, 0] <= 8 and out[8, 15] >= 247 and 100 <= out[8, 8] <= 155


def test_8_bit_scene_is_shown_as_stored(root: Path):
    # an ordinary RGB TIFF photo (UC Merced's kind): no stretch, so its colours stay true
    _tiff(root / "photo.tif", _solid(30, 20, RED))
    preview = ImagePreviews(root).render("photo.tif", 64)
    assert preview.media_type == "image/jpeg"
    assert np.abs(_pixels(preview) - RED).max() <= 3


def test_scene_is_resized_to_the_longest_side(root: Path):
    _tiff(root / "wide.tif", np.tile(np.arange(300, dtype=np.uint16), (100, 1)))
    preview = ImagePreviews(root).render("wide.tif", 64)
    assert (preview.width, preview.height) == (64, 21) == _pixels(preview).shape[::-1]


def test_pictures_keep_their_format_and_are_never_upscaled(root: Path):
    _picture(root / "red.jpg", _solid(300, 200, RED), quality=95)
    _picture(root / "grey.png", np.full((300, 200), 90, np.uint8))
    _picture(root / "small.png", _solid(20, 10, BLUE))
    _picture(root / "alpha.png", np.zeros((8, 8, 4), np.uint8))
    _picture(root / "deep.png", np.full((8, 8), 40000, np.uint16))
    _picture(root / "keyed.png", np.zeros((8, 8), np.uint8), transparency=0)
    palette = Image.new("P", (8, 8), 0)  # every pixel is index 0, BLUE
    palette.putpalette([*BLUE, *RED])
    palette.save(root / "palette.png", transparency=0)
    Image.fromarray(_solid(30, 20, RED)).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    previews = ImagePreviews(root)

    jpeg = previews.render("red.jpg", 128)
    assert jpeg.media_type == "image/jpeg" and Image.open(io.BytesIO(jpeg.data)).format == "JPEG"
    assert (jpeg.width, jpeg.height) == (128, 85)  # 200 * 128 / 300 = 85.3
    assert np.abs(_pixels(jpeg)[40, 60] - RED).max() <= 6

    png = previews.render("grey.png", 128)
    assert png.media_type == "image/png" and Image.open(io.BytesIO(png.data)).mode == "L"
    assert (png.width, png.height) == (85, 128) and (_pixels(png) == 90).all()

    small = previews.render("small.png", 2048)
    assert (small.width, small.height) == (20, 10) and (_pixels(small) == BLUE).all()
    assert Image.open(io.BytesIO(previews.render("alpha.png", 64).data)).mode == "RGBA"
    for keyed in ("keyed.png", "palette.png"):  # a transparent grey value, palette index
        out = _pixels(previews.render(keyed, 64))
        assert out.shape == (8, 8, 4) and (out[..., 3] == 0).all()
    cmyk = previews.render("cmyk.jpg", 64)
    assert cmyk.media_type == "image/jpeg" and np.abs(_pixels(cmyk)[10, 15] - RED).max() <= 6
    # a 16-bit PNG is a scene: stretched, and a JPEG like every scene
    assert previews.render("deep.png", 64).media_type == "image/jpeg"


def test_fit_size():
    assert fit_size(300, 200, 128) == (128, 85)
    assert fit_size(200, 300, 128) == (85, 128)
    assert fit_size(5000, 1, 64) == (64, 1)
    assert fit_size(64, 10, 64) == (64, 10)


@pytest.mark.parametrize("size", [0, 63, 100, 4096, True, "64", 64.0])
def test_sizes_outside_the_set_are_refused(root: Path, size: object):
    _picture(root / "red.png", _solid(4, 4, RED))
    with pytest.raises(ValueError, match="preview size"):
        ImagePreviews(root).render("red.png", size)  # type: ignore[arg-type]


def test_missing_archive_folder_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="does not exist"):
        ImagePreviews(tmp_path / "nowhere")


# -- which files ------------------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path, root: Path) -> Path:
    """An archive with one real image and every way out of it a request might try."""
    outside = tmp_path / "outside"
    _picture(outside / "secret.png", _solid(4, 4, RED))
    _picture(root / "inside.png", _solid(4, 4, BLUE))
    (root / "a").mkdir()
    (root / "notes.txt").write_text("not an image")
    (root / "folder.png").mkdir()
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.png").symlink_to(root / "notes.txt")
    (root / "loop.png").symlink_to(root / "loop.png")
    (root / "same.png").symlink_to(root / "inside.png")  # inside: allowed
    return root


REFUSED_IDS = [
    "../outside/secret.png",
    "a/../../outside/secret.png",
    "a/../inside.png",  # inside, but not an id an archive gives (not canonical)
    "./inside.png",
    "a//inside.png",
    "inside.png/",
    "/etc/passwd",
    "a\\..\\..\\outside\\secret.png",
    "..\\outside\\secret.png",
    "a\x00b.png",
    "inside.png\x00.png",
    "notes.txt",
    "missing.png",
    "link.png",
    "linkdir/secret.png",
    "alias.png",
    "folder.png",
    "loop.png",
    "",
]


@pytest.mark.parametrize("image_id", REFUSED_IDS)
def test_ids_outside_the_archive_or_not_images_are_not_found(guarded: Path, image_id: str):
    with pytest.raises(LookupError) as refused:
        ImagePreviews(guarded).render(image_id, 64)
    assert str(refused.value) == f"archive image {image_id!r} not found"


def test_absolute_path_of_a_real_image_is_not_found(guarded: Path):
    for path in (guarded.parent / "outside" / "secret.png", guarded / "inside.png"):
        with pytest.raises(LookupError):
            ImagePreviews(guarded).render(str(path), 64)


def test_ids_inside_the_archive_render(guarded: Path):
    previews = ImagePreviews(guarded)
    assert (_pixels(previews.render("inside.png", 64)) == BLUE).all()
    assert (_pixels(previews.render("same.png", 64)) == BLUE).all()


# -- cache ------------------------------------------------------------------------------------


def test_second_call_is_answered_from_the_cache(root: Path):
    _picture(root / "red.png", _solid(40, 40, RED))
    previews = ImagePreviews(root)
    first = previews.render("red.png", 64)
    assert previews.render("red.png", 64) is first
    assert previews.render("red.png", 128) is not first  # another size, another entry
    stats = previews.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 2, 2)
    assert stats.bytes == 2 * len(first.data)


def test_etag_is_strong_and_names_the_file_identity(root: Path):
    path = _picture(root / "red.png", _solid(4, 4, RED))
    first = ImagePreviews(root).render("red.png", 64)
    again = ImagePreviews(root).render("red.png", 64)  # another process, same file
    assert first.etag == again.etag and first.etag.startswith('"') and first.etag.endswith('"')
    assert first.etag != ImagePreviews(root).render("red.png", 128).etag
    assert first.last_modified == path.stat().st_mtime


def test_changed_file_is_rendered_again(root: Path):
    path = _picture(root / "colour.png", _solid(8, 8, RED))
    previews = ImagePreviews(root)
    red = previews.render("colour.png", 64)
    before = path.stat().st_mtime_ns
    _picture(path, _solid(8, 8, BLUE))
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a later time, whatever the clock
    blue = previews.render("colour.png", 64)
    assert blue is not red and blue.etag != red.etag
    assert (_pixels(blue) == BLUE).all() and previews.stats().misses == 2
    os.utime(path, ns=(before + 2 * 10**9, before + 2 * 10**9))  # touched only
    assert previews.render("colour.png", 64).etag not in (red.etag, blue.etag)


def test_byte_bound_evicts_the_least_recently_used(root: Path):
    for name in "abc":  # the same noise in each: previews of equal length
        _picture(root / f"{name}.png", _noise(32, 32))
    size = len(ImagePreviews(root).render("a.png", 64).data)
    previews = ImagePreviews(root, max_entries=100, max_bytes=2 * size)
    a = previews.render("a.png", 64)
    previews.render("b.png", 64)
    assert previews.render("a.png", 64) is a  # b is now the oldest
    previews.render("c.png", 64)
    stats = previews.stats()
    assert (stats.entries, stats.bytes) == (2, 2 * size)
    assert previews.render("a.png", 64) is a and previews.render("c.png", 64) is not None
    misses = previews.stats().misses
    previews.render("b.png", 64)
    assert previews.stats().misses == misses + 1


def test_entry_bound_and_oversized_previews(root: Path):
    for name in "ab":
        _picture(root / f"{name}.png", _noise(32, 32))
    one = ImagePreviews(root, max_entries=1)
    one.render("a.png", 64)
    one.render("b.png", 64)
    assert one.stats().entries == 1
    size = len(one.render("b.png", 64).data)
    tight = ImagePreviews(root, max_bytes=size - 1)
    assert len(tight.render("a.png", 64).data) == size  # returned, not kept
    assert (tight.stats().entries, tight.stats().bytes) == (0, 0)


def test_concurrent_renders_agree_and_keep_the_cache_consistent(root: Path):
    ids = [f"img{i}.png" for i in range(4)]
    for i, image_id in enumerate(ids):
        _picture(root / image_id, _noise(300, 200, seed=i))
    previews = ImagePreviews(root)
    requests = [(image_id, size) for image_id in ids for size in (64, 128, 256)] * 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: previews.render(*r), requests))
    by_request: dict[tuple[str, int], set[bytes]] = {}
    for request, preview in zip(requests, results, strict=True):
        by_request.setdefault(request, set()).add(preview.data)
    assert all(len(datas) == 1 for datas in by_request.values())
    stats = previews.stats()
    assert stats.hits + stats.misses == len(requests) and stats.entries == 12
    assert stats.bytes == sum(len(next(iter(d))) for d in by_request.values())


# -- bad files --------------------------------------------------------------------------------


def test_corrupt_files_raise_value_error_naming_the_id(root: Path):
    (root / "broken.png").write_bytes(b"not an image at all")
    (root / "bad.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    buf = io.BytesIO()
    Image.fromarray(_noise(64, 64)).save(buf, format="JPEG")
    (root / "cut.jpg").write_bytes(buf.getvalue()[:300])
    (root / "gif.png").write_bytes(_gif())
    previews = ImagePreviews(root)
    for image_id in ("broken.png", "bad.tif", "cut.jpg", "gif.png"):
        with pytest.raises(ValueError, match=re.escape(repr(image_id))) as failed:
            previews.render(image_id, 64)
        assert str(root) not in str(failed.value)  # no server path in the message
    assert previews.stats().entries == 0


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buf, format="GIF")
    return buf.getvalue()


def test_too_many_pixels_or_bytes_are_refused(root: Path):
    _picture(root / "big.png", np.zeros((20, 20), np.uint8))
    _tiff(root / "big.tif", np.zeros((20, 20), np.uint16))
    _tiff(root / "bands5.tif", np.zeros((10, 10, 5), np.uint16))
    _tiff(root / "bands4.tif", np.zeros((10, 10, 4), np.uint16))
    limited = ImagePreviews(root, max_pixels=100)
    for image_id in ("big.png", "big.tif", "bands5.tif"):  # 400, 400, 10x10x5 > 4x100 samples
        with pytest.raises(ResourceExhaustedError, match=re.escape(image_id)):
            limited.render(image_id, 64)
    assert limited.render("bands4.tif", 64).width == 10
    with pytest.raises(ResourceExhaustedError, match="bytes"):
        ImagePreviews(root, max_file_bytes=10).render("big.png", 64)


def test_a_bomb_header_is_resource_exhausted_whatever_pillows_global_guard(root: Path, monkeypatch):
    (root / "bomb.png").write_bytes(png_header(20000, 20000))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own guard switched off
    with pytest.raises(ResourceExhaustedError) as refused:
        ImagePreviews(root).render("bomb.png", 64)
    assert str(refused.value) == (
        "archive image 'bomb.png': image is 20000 x 20000 = 400,000,000 pixels, over the limit"
        " of 67,108,864 pixels; downscale or tile it"
    )
