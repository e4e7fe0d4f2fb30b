"""Tiny generated archives: colour classes whose right answers are obvious."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 40, 200)}


def make_archive(root: Path, per_class: int = 6, size: int = 32, seed: int = 0) -> Path:
    """`root/<colour>/<colour>NN.png`: a solid colour with mild noise and a random bright square."""
    rng = np.random.default_rng(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.clip(np.array(rgb) + rng.normal(0, 12, (size, size, 3)), 0, 255)
            x, y = rng.integers(0, size - 8, 2)
            image[y : y + 8, x : x + 8] = 255
            Image.fromarray(image.astype(np.uint8)).save(root / name / f"{name}{i:02d}.png")
    return root


@pytest.fixture
def tiny_archive(tmp_path: Path) -> Path:
    return make_archive(tmp_path / "archive")
