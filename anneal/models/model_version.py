"""The name of one model: which round trained it, or the pretrained model itself.

Services carry model versions as strings (proto fields, index properties, round files); this is
the one place that writes and reads them:

- ``pretrained``: the pretrained backbone with the identity head, as the embedding service
  builds it in; no archive and no label is behind it.
- ``round-0-d<dim>``: the starting model of the rounds: the pretrained backbone with a head of
  ``dim`` (the identity, or the PCA projection of the archive's features when ``dim`` is
  smaller). Its dimension is in the name, as each ``dim`` gives another model.
- ``round-<N>`` (N >= 1): trained from round 0 on the labels of rounds 1..N.

``round-<N>-d<dim>`` and a bare ``round-0`` (the embedding service's built-in name before it was
``pretrained``) parse too, so names written by earlier versions keep their meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRETRAINED = "pretrained"
# No leading zeros, so each model has one spelling; a dimension is 1 or more.
_PATTERN = re.compile(
    r"(?:(?P<pretrained>pretrained)|round-(?P<round>0|[1-9]\d*))(?:-d(?P<dim>[1-9]\d*))?"
)
_SHOWN_CHARS = 40  # of a malformed name in an error message


@dataclass(frozen=True)
class ModelVersion:
    """`round` None is the pretrained model; `dim` is part of the name when set."""

    round: int | None
    dim: int | None = None

    def __post_init__(self) -> None:
        if self.round is not None and self.round < 0:
            raise ValueError(f"a model's round is 0 or more, got {self.round}")
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"a model's dimension is 1 or more, got {self.dim}")

    @classmethod
    def pretrained(cls) -> ModelVersion:
        """The pretrained backbone with the identity head (the embedding service's built-in)."""
        return cls(None)

    @classmethod
    def start(cls, dim: int) -> ModelVersion:
        """Round 0 with a head of `dim`: where every round's training starts."""
        return cls(0, dim)

    @classmethod
    def trained(cls, round_number: int) -> ModelVersion:
        """The model trained on the labels of rounds 1..`round_number`."""
        if round_number < 1:
            raise ValueError(f"a trained model's round is 1 or more, got {round_number}")
        return cls(round_number)

    @classmethod
    def parse(cls, text: str) -> ModelVersion:
        """The version a string names; ValueError says what a model version looks like."""
        match = _PATTERN.fullmatch(text)
        if match is None:
            shown = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
            raise ValueError(
                f"model version {shown!r} is not 'pretrained', 'round-<N>' or"
                " 'round-<N>-d<dim>' (e.g. round-0-d128, round-3)"
            )
        dim = int(match["dim"]) if match["dim"] else None
        if match["pretrained"]:
            return cls(None, dim)
        return cls(int(match["round"]), dim)

    @property
    def is_pretrained(self) -> bool:
        return self.round is None

    def __str__(self) -> str:
        name = PRETRAINED if self.round is None else f"round-{self.round}"
        return name if self.dim is None else f"{name}-d{self.dim}"
