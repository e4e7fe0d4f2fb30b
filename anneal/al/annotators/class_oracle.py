"""An oracle that names an image's class, for the class-label active-learning baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class SimulatedClassOracle:
    """Answers 'which class is this image?' from a mapping image id -> class."""

    name = "simulated-class-oracle"

    def __init__(self, classes: Mapping[str, str]) -> None:
        self.classes = dict(classes)

    def classify(self, images: Sequence[str]) -> list[str]:
        """One class per image id; KeyError names an id it has no class for."""
        missing = [i for i in images if i not in self.classes]
        if missing:
            raise KeyError(f"the oracle has no class for image {missing[0]!r}")
        return [self.classes[i] for i in images]
