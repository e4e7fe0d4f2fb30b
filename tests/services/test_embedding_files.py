"""The per-version embedding files the coordinator writes and selection reads in place: what a
reader gets, what reads as absent (half written, changed, of another format), what is kept, and
the archive rules selection applies to them (its images only, in its order)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.common.embedding_files import EmbeddingFiles, EmbeddingsAbsentError
from services.selection.vector_source import FileVectors

IDS = ["a", "b", "c"]
VECTORS = np.array([[3, 4], [0, 2], [1, 0]], dtype=np.float32)
UNIT = np.array([[0.6, 0.8], [0, 1], [1, 0]], dtype=np.float32)


@pytest.fixture
def files(tmp_path: Path) -> EmbeddingFiles:
    return EmbeddingFiles(tmp_path / "embeddings")


def test_a_written_version_reads_back_normalised_and_mapped(files: EmbeddingFiles) -> None:
    written = files.write(4, "round-3-d2", IDS, VECTORS)
    stored = files.read(4)
    assert (stored.version, stored.model_version, stored.ids) == (4, "round-3-d2", tuple(IDS))
    assert isinstance(stored.vectors, np.memmap) and not stored.vectors.flags.writeable
    assert np.allclose(stored.vectors, UNIT) and np.array_equal(stored.vectors, written)
    assert stored.bytes_read == 3 * 2 * 4
    manifest = json.loads((files.path(4) / "manifest.json").read_text())
    assert (manifest["rows"], manifest["dim"], manifest["model_version"]) == (3, 2, "round-3-d2")


def test_ids_and_rows_that_do_not_match_are_refused(files: EmbeddingFiles) -> None:
    with pytest.raises(ValueError, match="2 ids but embeddings of shape"):
        files.write(1, "m", IDS[:2], VECTORS)
    assert files.versions() == []


def test_a_version_never_written_reads_as_absent(files: EmbeddingFiles) -> None:
    with pytest.raises(EmbeddingsAbsentError, match="no manifest"):
        files.read(1)


def test_vectors_written_without_their_manifest_read_as_absent(files: EmbeddingFiles) -> None:
    files.write(1, "m", IDS, VECTORS)
    (files.path(1) / "manifest.json").unlink()  # the writer died before its last step
    with pytest.raises(EmbeddingsAbsentError, match="no manifest"):
        files.read(1)


def test_vectors_of_another_size_than_the_manifest_says_read_as_absent(
    files: EmbeddingFiles,
) -> None:
    files.write(1, "m", IDS, VECTORS)
    np.save(files.path(1) / "vectors.npy", np.zeros((4, 2), np.float32))
    with pytest.raises(EmbeddingsAbsentError, match="not the size its manifest records"):
        files.read(1)


def test_a_manifest_of_another_format_reads_as_absent(files: EmbeddingFiles) -> None:
    files.write(1, "m", IDS, VECTORS)
    path = files.path(1) / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 99}))
    with pytest.raises(EmbeddingsAbsentError, match="format 99"):
        files.read(1)


def test_writing_a_version_again_replaces_it(files: EmbeddingFiles) -> None:
    files.write(2, "old", IDS, VECTORS)
    files.write(2, "new", IDS[::-1], VECTORS)
    stored = files.read(2)
    assert (stored.model_version, stored.ids) == ("new", tuple(IDS[::-1]))


def test_after_a_swap_the_serving_version_the_one_before_and_newer_ones_are_kept(
    files: EmbeddingFiles,
) -> None:
    for version in (1, 2, 3, 4, 5):
        files.write(version, f"m{version}", IDS, VECTORS)
    files.drop_older(serving_version=4)
    assert files.versions() == [3, 4, 5]
    files.drop(5)
    assert files.versions() == [3, 4]


def test_file_vectors_keep_the_archives_images_in_the_archives_order(
    files: EmbeddingFiles,
) -> None:
    files.write(1, "m", ["c", "x", "a", "b"], np.vstack([VECTORS[2], [1, 1], VECTORS[:2]]))
    vectors = FileVectors(files, lambda: IDS).vectors(1, None)
    assert vectors.ids == tuple(IDS)  # "x" is not in the archive
    assert np.allclose(vectors.matrix, UNIT)


def test_file_vectors_in_the_archives_order_stay_mapped(files: EmbeddingFiles) -> None:
    files.write(1, "m", IDS, VECTORS)
    assert isinstance(FileVectors(files, lambda: IDS).vectors(1, None).matrix, np.memmap)
