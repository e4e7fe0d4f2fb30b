"""An oracle that answers from class labels: same class means similar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from anneal.al.annotators.base import Annotator


class SimulatedOracle(Annotator):
    """Answers from a mapping image id -> class; KeyError names an id it has no class for."""

    name = "simulated-oracle"

    def __init__(self, classes: Mapping[str, str]) -> None:
        self.classes = dict(classes)

    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        out = []
        for a, b in pairs:
            for image in (a, b):
                if image not in self.classes:
                    raise KeyError(f"the oracle has no class for image {image!r}")
            out.append(self.classes[a] == self.classes[b])
        return out
