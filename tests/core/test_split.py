"""The stable split: per-image membership from the id and seed, stratified within tolerance."""

import numpy as np
import pytest

from anneal.data.split import class_tolerance, query_share_per_class, stable_split

CLASSES = [f"class{c:02d}" for c in range(21)]


def _ids(per_class: int = 100) -> list[str]:
    return [f"{name}/{name}{i:02d}.tif" for name in CLASSES for i in range(per_class)]


def _queries(ids: list[str], fraction: float = 0.2, seed: int = 0) -> set[str]:
    return {ids[int(r)] for r in stable_split(ids, fraction, seed).queries}


def test_adding_images_moves_no_other_image():
    ids = _ids(20)
    before = _queries(ids)
    one = [*ids[:150], "class03/new.tif", *ids[150:]]
    assert _queries(one) - {"class03/new.tif"} == before
    several = [f"class{c:02d}/extra{i}.tif" for c in (0, 5, 20) for i in range(7)] + ids[::-1]
    assert _queries(several) & set(ids) == before


def test_removing_an_image_moves_no_other_image():
    ids = _ids(20)
    before = _queries(ids)
    gone = sorted(before)[0]
    assert _queries([i for i in ids if i != gone]) == before - {gone}
    kept = ids[1:]  # an archive image removed
    assert _queries(kept) == before - {ids[0]}


def test_same_seed_same_split_other_seed_different():
    ids = _ids(20)
    a, b = stable_split(ids, 0.2, seed=1), stable_split(ids, 0.2, seed=1)
    assert a.queries.tolist() == b.queries.tolist()
    assert np.intersect1d(a.queries, a.archive).size == 0
    assert np.union1d(a.queries, a.archive).tolist() == list(range(len(ids)))
    assert _queries(ids, seed=1) != _queries(ids, seed=2)


def test_per_class_share_within_tolerance_on_21_by_100():
    """Default seed: every class within 3 sigma + 1 image; over 50 seeds the (seed, class) cells
    beyond it stay rare (about 0.3% expected for a fair hash) and the mean share is 0.2."""
    ids, labels = _ids(100), np.repeat(np.arange(21), 100)
    tolerance = class_tolerance(100, 0.2)
    assert tolerance == pytest.approx(13.0)
    shares = query_share_per_class(stable_split(ids, 0.2, seed=0), labels)
    assert np.abs(shares * 100 - 20).max() <= tolerance
    cells = np.array([query_share_per_class(stable_split(ids, 0.2, s), labels) for s in range(50)])
    assert (np.abs(cells * 100 - 20) > tolerance).mean() <= 0.01
    assert cells.mean() == pytest.approx(0.2, abs=0.005)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_fraction_is_refused(fraction: float):
    with pytest.raises(ValueError, match=r"query_fraction must be in \(0, 1\)"):
        stable_split(_ids(2), fraction)


def test_repeated_ids_and_empty_parts_are_refused():
    with pytest.raises(ValueError, match="must be unique"):
        stable_split(["a.png", "a.png", "b.png"], 0.5)
    with pytest.raises(ValueError, match="left no queries or no archive"):
        stable_split(["only.png"], 0.2)
