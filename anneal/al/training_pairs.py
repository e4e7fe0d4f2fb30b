"""What a round trains on: the answers, plus what they imply and what the model is sure of.

One home for the experiments' learner and the coordinator service, so both train on the same
set. Implied pairs come from transitivity (anneal/al/transitivity.py), sampled half similar and
half dissimilar: the whole closure of 1,000 answers holds tens of thousands of pairs, nearly all
dissimilar, and trains slower and worse than a balanced sample (docs/BENCHMARKS.md, issue 10).
Pseudo-labels are confident pool pairs (anneal/al/pseudo_labels.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anneal.al.pseudo_labels import PseudoLabeller
from anneal.al.transitivity import transitive_closure

#: Implied pairs sampled per round where transitivity is on (measured: docs/BENCHMARKS.md).
DEFAULT_IMPLIED_PAIRS = 8000


@dataclass(frozen=True)
class TrainingSet:
    """Canonical pairs and bits to train on; the answers come first, then the implied pairs,
    then the pseudo-labels."""

    pairs: np.ndarray
    similar: np.ndarray
    implied: int
    pseudo: int

    @property
    def not_asked(self) -> int:
        """Pairs in the set that nobody answered."""
        return self.implied + self.pseudo


@dataclass(frozen=True)
class TrainingPairs:
    """Composes a round's training set; `implied_pairs` 0 keeps the whole closure."""

    transitivity: bool = False
    implied_pairs: int = 0
    pseudo: PseudoLabeller | None = None

    def compose(
        self,
        n: int,
        pairs: np.ndarray,
        similar: np.ndarray,
        rng: np.random.Generator,
        embeddings: np.ndarray | None = None,
    ) -> TrainingSet:
        """The training set for answers `pairs`/`similar` over an archive of `n` images;
        pseudo-labels need the archive's `embeddings` under the model the answers were asked
        under."""
        parts, bits = [pairs], [np.asarray(similar, dtype=bool)]
        implied = pseudo = 0
        if self.transitivity and len(pairs):
            closure = transitive_closure(pairs, similar, n)
            if self.implied_pairs > 0:
                closure = closure.sample(self.implied_pairs, rng)
            parts.append(closure.pairs)
            bits.append(closure.similar)
            implied = len(closure.pairs)
        if self.pseudo is not None:
            if embeddings is None:
                raise ValueError("pseudo-labels need the archive's embeddings")
            extra, extra_bits = self.pseudo.label(embeddings, pairs, similar, rng)
            parts.append(extra)
            bits.append(extra_bits)
            pseudo = len(extra)
        return TrainingSet(
            np.concatenate(parts).astype(np.int64), np.concatenate(bits), implied, pseudo
        )
