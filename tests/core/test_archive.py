import os
from pathlib import Path

import pytest

from anneal.data.archive import Archive, image_ids
from anneal.errors import ArchiveError


def test_labelled_archive_from_class_folders(tiny_archive: Path):
    archive = Archive.from_folder(tiny_archive)
    assert len(archive) == 18 and archive.is_labelled
    assert archive.classes == ["blue", "green", "red"]
    assert archive.ids[0] == "blue/blue00.png"
    assert archive.labels().tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert archive.index_of("red/red03.png") == 15
    with pytest.raises(KeyError, match=r"nope\.png"):
        archive.index_of("nope.png")


def test_flat_folder_is_unlabelled(tmp_path: Path, tiny_archive: Path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in list(tiny_archive.rglob("*.png"))[:3]:
        (flat / p.name).write_bytes(p.read_bytes())
    archive = Archive.from_folder(flat)
    assert not archive.is_labelled
    with pytest.raises(ArchiveError, match="no class subfolders"):
        archive.labels()


def test_empty_and_missing_folders_are_refused(tmp_path: Path):
    with pytest.raises(ArchiveError, match="holds no JPEG, PNG or TIFF"):
        Archive.from_folder(tmp_path)
    with pytest.raises(ArchiveError, match="does not exist"):
        Archive.from_folder(tmp_path / "missing")


def test_scan_lists_image_files_in_path_order_skipping_folder_links(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "B").mkdir()
    for name in ["x.PNG", "a/y.jpg", "a/b/z.tif", "B/q.jpeg", "a/notes.txt", "a/b/.png"]:
        (tmp_path / name).write_bytes(b"x")
    os.symlink(tmp_path / "a", tmp_path / "link")  # a folder link: not followed
    os.symlink(tmp_path / "x.PNG", tmp_path / "B" / "w.png")  # a file link: listed
    os.symlink(tmp_path / "missing.png", tmp_path / "broken.png")  # a broken link: skipped
    expected = ["B/q.jpeg", "B/w.png", "a/b/z.tif", "a/y.jpg", "x.PNG"]
    assert image_ids(tmp_path) == expected
    archive = Archive.from_folder(tmp_path)
    assert archive.ids == expected
    assert [image.path for image in archive.images] == [tmp_path / i for i in expected]
    assert not archive.is_labelled
