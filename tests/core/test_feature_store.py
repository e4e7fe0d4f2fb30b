"""The feature store: sharded .npy files and a manifest that survives a crash mid-write.

Features here are tiny and worked out by hand: key "k<i>" holds the row [i, i, i], so any row
read back says which key it came from.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import anneal.models.feature_store as feature_store
from anneal.errors import StateError
from anneal.models.feature_store import FeatureStore, merge_start


def rows(*numbers: int) -> np.ndarray:
    return np.array([[n, n, n] for n in numbers], dtype=np.float32)


def keys(*numbers: int) -> list[str]:
    return [f"k{n}" for n in numbers]


def put(store: FeatureStore, *numbers: int) -> None:
    store.put_many(keys(*numbers), rows(*numbers))


def manifest(store: FeatureStore) -> dict:
    return json.loads((store.folder / "manifest.json").read_text())


def files(store: FeatureStore) -> list[str]:
    return sorted(p.name for p in store.folder.iterdir())


class Crash(Exception):
    pass


WRITER = """
import sys
import numpy as np
from anneal.models.feature_store import FeatureStore
store = FeatureStore(sys.argv[1], "m", fanout=2, large_rows=64)
for n in range(1_000_000):
    store.put_many([f"k{n}"], np.full((1, 3), n, dtype=np.float32))
"""
"""Puts k0, k1, ... one a shard (merging every other put), until it is killed."""


def test_features_round_trip_through_the_manifest_and_memory_mapped_shards(tmp_path: Path):
    store = FeatureStore(tmp_path, "m")
    assert len(store) == 0 and store.dim is None and not store.folder.exists()
    put(store, 0, 1)
    put(store, 2)
    reopened = FeatureStore(tmp_path, "m")
    assert len(reopened) == 3 and reopened.dim == 3
    assert set(reopened.keys()) == {"k0", "k1", "k2"}
    assert "k1" in reopened and "k9" not in reopened
    np.testing.assert_array_equal(reopened.get("k2"), [2, 2, 2])
    assert reopened.get("k9") is None
    assert isinstance(reopened._shards[0].features.base, np.memmap)
    got = reopened.get_many(["k1", "k9", "k0"])
    np.testing.assert_array_equal(got[0], [1, 1, 1])
    assert got[1] is None
    np.testing.assert_array_equal(got[2], [0, 0, 0])
    # across shards, in the order asked, repeats allowed
    np.testing.assert_array_equal(reopened.matrix(["k2", "k0", "k2", "k1"]), rows(2, 0, 2, 1))
    assert reopened.matrix([]).shape == (0, 3)
    with pytest.raises(KeyError, match="1 of 2 keys"):
        reopened.matrix(["k0", "k9"])
    listed = manifest(reopened)
    assert (listed["model_key"], listed["dim"], listed["dtype"]) == ("m", 3, "float32")
    assert [(s["name"], s["rows"]) for s in listed["shards"]] == [
        ("shard-000000", 2),
        ("shard-000001", 1),
    ]
    assert files(reopened) == [
        "manifest.json",
        "shard-000000.keys.npy",
        "shard-000000.npy",
        "shard-000001.keys.npy",
        "shard-000001.npy",
    ]
    # a shard is a plain .npy any consumer can read by path
    np.testing.assert_array_equal(np.load(store.folder / "shard-000000.npy"), rows(0, 1))


def test_a_crash_between_shard_and_manifest_leaves_the_previous_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    store = FeatureStore(tmp_path, "m")
    put(store, 0, 1)
    before = manifest(store)

    def crash(folder: Path, listed: object) -> None:
        raise Crash

    monkeypatch.setattr(feature_store, "write_manifest", crash)
    with pytest.raises(Crash):
        put(store, 2, 3)  # its shard files are written, the manifest is not
    monkeypatch.undo()
    assert "shard-000001.npy" in files(store)
    # a crash mid-write of the next shard's files leaves a temporary file and a torn shard
    (store.folder / ".shard-000002.npy.0123abcd.tmp").write_bytes(b"\x93NUMPY half")
    (store.folder / "shard-000003.npy").write_bytes(b"\x93NUMPY torn")
    reader = FeatureStore(tmp_path, "m")
    assert set(reader.keys()) == {"k0", "k1"}
    assert manifest(reader) == before
    assert "shard-000003.npy" in files(reader), "a reader deletes nothing"
    writer = FeatureStore(tmp_path, "m")
    put(writer, 4)
    assert files(writer) == [
        "manifest.json",
        "shard-000000.keys.npy",
        "shard-000000.npy",
        "shard-000001.keys.npy",
        "shard-000001.npy",
    ]
    again = FeatureStore(tmp_path, "m")
    assert set(again.keys()) == {"k0", "k1", "k4"}
    np.testing.assert_array_equal(again.matrix(["k4", "k1"]), rows(4, 1))


def test_a_writer_killed_mid_put_leaves_the_puts_it_finished(tmp_path: Path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=os.environ)
    listed = tmp_path / "m" / "manifest.json"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and writer.poll() is None:
            if (
                listed.exists()
                and sum(s["rows"] for s in json.loads(listed.read_text())["shards"]) >= 30
            ):
                break
            time.sleep(0.01)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store = FeatureStore(tmp_path, "m", fanout=2, large_rows=64)
    done = len(store)
    assert done >= 30
    assert set(store.keys()) == set(keys(*range(done)))
    np.testing.assert_array_equal(store.matrix(keys(*range(done))), rows(*range(done)))
    put(store, done)
    entries = manifest(store)["shards"]
    assert files(store) == sorted(
        ["manifest.json"]
        + [f"{s['name']}.npy" for s in entries]
        + [f"{s['name']}.keys.npy" for s in entries]
    )
    assert len(FeatureStore(tmp_path, "m")) == done + 1


def test_newest_shards_merge_by_tier_keeping_their_rows(tmp_path: Path):
    # fanout 2, shards of 8 rows or more are final: merges like a binary counter up to 8
    assert merge_start([1], 2, 8) is None
    assert merge_start([1, 1], 2, 8) == 0
    assert merge_start([2, 1], 2, 8) is None
    assert merge_start([4, 2, 1, 1], 2, 8) == 2
    assert merge_start([2, 1, 2], 2, 8) == 0  # the smaller shard between is merged in
    assert merge_start([8, 1], 2, 8) is None
    assert merge_start([8, 8], 2, 8) is None
    store = FeatureStore(tmp_path, "m", fanout=2, large_rows=8)
    for n in range(11):
        put(store, n)
    assert [s["rows"] for s in manifest(store)["shards"]] == [8, 2, 1]
    assert len(files(store)) == 1 + 2 * 3
    reopened = FeatureStore(tmp_path, "m", fanout=2, large_rows=8)
    np.testing.assert_array_equal(reopened.matrix(keys(*range(11))), rows(*range(11)))


def test_a_crash_mid_merge_leaves_the_previous_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    store = FeatureStore(tmp_path, "m", fanout=2, large_rows=8)
    put(store, 0)
    real = feature_store.write_manifest
    calls = []

    def crash_on_merge(folder: Path, listed: object) -> None:
        calls.append(listed)
        if len(calls) == 2:  # the put's manifest is written, the merge's is not
            raise Crash
        real(folder, listed)  # type: ignore[arg-type]

    monkeypatch.setattr(feature_store, "write_manifest", crash_on_merge)
    with pytest.raises(Crash):
        put(store, 1)
    monkeypatch.undo()
    reopened = FeatureStore(tmp_path, "m", fanout=2, large_rows=8)
    assert [s["rows"] for s in manifest(reopened)["shards"]] == [1, 1]
    np.testing.assert_array_equal(reopened.matrix(["k1", "k0"]), rows(1, 0))
    put(reopened, 2)
    assert set(FeatureStore(tmp_path, "m").keys()) == {"k0", "k1", "k2"}


def test_a_listed_shard_found_truncated_is_left_out_to_be_computed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    store = FeatureStore(tmp_path, "m")
    put(store, 0, 1)
    put(store, 2)
    damaged = store.folder / "shard-000000.npy"
    damaged.write_bytes(damaged.read_bytes()[:-4])
    with caplog.at_level(logging.WARNING):
        reopened = FeatureStore(tmp_path, "m")
    assert set(reopened.keys()) == {"k2"}
    assert str(damaged) in caplog.text and "computed again" in caplog.text
    put(reopened, 0, 1)  # what extraction does with the missing images
    assert [s["name"] for s in manifest(reopened)["shards"]] == ["shard-000001", "shard-000002"]
    assert not damaged.exists()
    np.testing.assert_array_equal(FeatureStore(tmp_path, "m").matrix(keys(0, 1, 2)), rows(0, 1, 2))


def test_an_unreadable_manifest_is_an_error_naming_it_and_the_fix(tmp_path: Path):
    store = FeatureStore(tmp_path, "m")
    put(store, 0)
    (store.folder / "manifest.json").write_text('{"format": "anneal-feature-store", "vers')
    with pytest.raises(StateError, match=r"manifest.json is unreadable .*delete .*/m to compute"):
        FeatureStore(tmp_path, "m")
    (tmp_path / "m").rename(tmp_path / "other")
    (tmp_path / "other" / "manifest.json").unlink()
    put(FeatureStore(tmp_path, "other"), 1)
    (tmp_path / "other").rename(tmp_path / "m")
    with pytest.raises(StateError, match="of model 'other', not 'm'"):
        FeatureStore(tmp_path, "m")


def test_features_of_another_dimension_are_refused(tmp_path: Path):
    store = FeatureStore(tmp_path, "m")
    put(store, 0)
    with pytest.raises(StateError, match=r"dimension 2 .* of dimension 3"):
        store.put_many(["x"], np.zeros((1, 2), dtype=np.float32))


def test_an_earlier_versions_npz_cache_is_taken_over_without_recomputing(tmp_path: Path):
    folder = tmp_path / "m"
    folder.mkdir()
    # as FeatureCache wrote them: one .npz per batch; a key stored twice keeps its later row
    np.savez(folder / "aa.npz", keys=np.array(keys(0, 1)), features=rows(0, 9))
    np.savez(folder / "bb.npz", keys=np.array(keys(1, 2)), features=rows(1, 2))
    (folder / "deadbeef.npz.partial").write_bytes(b"PK\x03\x04 truncated")
    (folder / "cafe.tmp.npz").write_bytes(b"PK\x03\x04 truncated")
    store = FeatureStore(tmp_path, "m")
    assert len(store) == 3
    np.testing.assert_array_equal(store.matrix(keys(0, 1, 2)), rows(0, 1, 2))
    assert files(store) == ["manifest.json", "shard-000000.keys.npy", "shard-000000.npy"]
    reopened = FeatureStore(tmp_path, "m")
    np.testing.assert_array_equal(reopened.matrix(keys(2, 0)), rows(2, 0))


def test_a_reader_that_read_the_manifest_before_a_merge_reads_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    store = FeatureStore(tmp_path, "m", fanout=2, large_rows=8)
    put(store, 0)
    stale = [feature_store.read_manifest(store.folder, "m")]
    put(store, 1)  # merges shards 0 and 1 into shard 2 and deletes them
    real = feature_store.read_manifest
    monkeypatch.setattr(
        feature_store, "read_manifest", lambda *args: stale.pop() if stale else real(*args)
    )
    with caplog.at_level(logging.WARNING):
        reader = FeatureStore(tmp_path, "m")
    np.testing.assert_array_equal(reader.matrix(["k0", "k1"]), rows(0, 1))
    assert caplog.text == ""
