"""Answers for ``anneal label --from FILE``: a CSV with a header naming the pair and the answer.

Columns: ``pair_id,similar`` or ``image_a,image_b,similar``; ``similar`` is one of 1/0,
true/false, yes/no, y/n, similar/dissimilar (any case).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TRUE = {"1", "true", "yes", "y", "similar"}
FALSE = {"0", "false", "no", "n", "dissimilar"}


@dataclass(frozen=True)
class Answer:
    """One answer: a pair named by id or by its two images, and the bit."""

    similar: bool
    pair_id: int | None = None
    images: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        """A stable name of the pair, for idempotency keys."""
        return f"p{self.pair_id}" if self.images is None else f"{self.images[0]}|{self.images[1]}"


def parse_similar(value: str, where: str) -> bool:
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(
        f"{where}: similar must be one of 1/0, yes/no, similar/dissimilar, got {value!r}"
    )


def read_answers(path: Path) -> list[Answer]:
    """The answers of a CSV file; ValueError naming the first bad line."""
    if not path.is_file():
        raise ValueError(f"answer file {path} does not exist")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} holds no answers (a header line and one row per answer)")
    answers = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        if "similar" not in row or row["similar"] is None:
            raise ValueError(f"{where}: no 'similar' column; the header must name it")
        similar = parse_similar(row["similar"], where)
        if row.get("pair_id"):
            if not row["pair_id"].strip().isdigit():
                raise ValueError(f"{where}: pair_id must be a number, got {row['pair_id']!r}")
            answers.append(Answer(similar, pair_id=int(row["pair_id"])))
        elif row.get("image_a") and row.get("image_b"):
            answers.append(Answer(similar, images=(row["image_a"].strip(), row["image_b"].strip())))
        else:
            raise ValueError(f"{where}: name the pair by pair_id or by image_a and image_b")
    return answers
