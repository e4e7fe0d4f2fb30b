"""Helpers for selection / coordinator / live-rebuild tests: a tiny labelled archive on disk.

Three classes of six 32x32 PNG images each: a solid colour per class (red, green, blue) plus a
little noise, so any reasonable embedding puts each class together and the answers are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("blue", "green", "red")
COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}
PER_CLASS = 6


def make_archive(root: Path, per_class: int = PER_CLASS, seed: int = 0) -> list[str]:
    """Write the archive under ``root``; return its image ids (sorted, as Archive lists them)."""
    rng = np.random.default_rng(seed)
    ids = []
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(-25, 26, size=(32, 32, 3))
            pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}{i:02d}.png")
            ids.append(f"{name}/{name}{i:02d}.png")
    return sorted(ids)


def class_of(image_id: str) -> str:
    return image_id.split("/")[0]


def class_vectors(ids: Sequence[str], seed: int = 0) -> np.ndarray:
    """Unit 4-D vectors: class c near axis c, a small random tilt per image."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(ids), 4), dtype=np.float32)
    for row, image_id in enumerate(ids):
        out[row, CLASSES.index(class_of(image_id))] = 1.0
        out[row] += rng.normal(0, 0.1, size=4).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)
