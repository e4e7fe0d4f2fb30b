from pathlib import Path

import pytest

from anneal.data.archive import Archive
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
