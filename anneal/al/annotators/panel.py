"""Several annotators answer every pair; a resolution rule turns their votes into one bit."""

from __future__ import annotations

from collections.abc import Sequence

from anneal.al.annotators.base import Annotator
from anneal.al.resolution import ResolutionRule, Vote


class AnnotatorPanel(Annotator):
    """Every member answers every pair; votes are ordered as the members are (first = earliest),
    which is what the rule's tie-break sees. Costs ``len(members)`` answers per pair."""

    def __init__(self, members: Sequence[Annotator], rule: ResolutionRule) -> None:
        if not members:
            raise ValueError("a panel needs at least one annotator")
        self.members, self.rule = list(members), rule
        self.name = "panel-" + "+".join(m.name for m in self.members)

    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        answers = [member.answer(pairs) for member in self.members]
        return [
            self.rule.resolve([Vote(bits[i], order) for order, bits in enumerate(answers)])
            for i in range(len(pairs))
        ]
