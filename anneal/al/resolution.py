"""How the answers of several annotators for one pair resolve to one similar / dissimilar bit.

Each annotator answers a pair at most once (the store refuses a second answer), so every vote
comes from a different annotator. :class:`MajorityVote` is the rule the service uses: the
answer most annotators gave wins; on a tie the earliest stored answer wins.

Pure logic, so it lives in the core library: the label service resolves stored answers with
it and simulated experiments resolve several noisy annotators' answers with the same rule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Vote:
    """One annotator's answer; ``sequence`` is its store order (earlier = smaller)."""

    similar: bool
    sequence: int


class ResolutionRule(ABC):
    """Turns the votes for one pair (at least one) into one answer."""

    @abstractmethod
    def resolve(self, votes: Sequence[Vote]) -> bool:
        """The resolved answer: True for similar."""


class MajorityVote(ResolutionRule):
    """Majority of annotators; a tie goes to the earliest answer."""

    def resolve(self, votes: Sequence[Vote]) -> bool:
        if not votes:
            raise ValueError("cannot resolve a pair without votes")
        similar = sum(1 for vote in votes if vote.similar)
        dissimilar = len(votes) - similar
        if similar != dissimilar:
            return similar > dissimilar
        return min(votes, key=lambda vote: vote.sequence).similar
