"""The pairwise labelling configuration Label Studio shows, and reading an answer back from it.

Both scenes side by side, one required choice: Similar, Dissimilar, or Unsure (an Unsure answer
stores nothing here). The names in the XML are the contract with :func:`answer_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHOICES_NAME = "answer"
SIMILAR = "Similar"
DISSIMILAR = "Dissimilar"
UNSURE = "Unsure"

LABEL_CONFIG = f"""<View>
  <Header value="Do these two scenes show the same kind of place?"/>
  <View style="display: flex; gap: 1em; align-items: flex-start">
    <View style="flex: 1">
      <Header value="Scene A" size="5"/><Image name="image_a" value="$image_a"/>
    </View>
    <View style="flex: 1">
      <Header value="Scene B" size="5"/><Image name="image_b" value="$image_b"/>
    </View>
  </View>
  <Choices name="{CHOICES_NAME}" toName="image_a" choice="single" required="true" showInline="true">
    <Choice value="{SIMILAR}" hotkey="y"/>
    <Choice value="{DISSIMILAR}" hotkey="n"/>
    <Choice value="{UNSURE}" hotkey="u"/>
  </Choices>
</View>"""


class AnswerError(ValueError):
    """An annotation's result is not an answer of this configuration."""


def answer_of(result: Sequence[Any], was_cancelled: bool) -> bool | None:
    """True (similar), False (dissimilar), or None when nothing is to be stored: Unsure, a
    skipped (cancelled) task, or an empty result. AnswerError when the result holds a choice
    this configuration does not have, or more than one."""
    if was_cancelled:
        return None
    chosen: list[str] = []
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") != CHOICES_NAME:
            continue
        value = region.get("value")
        choices = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise AnswerError(f"the {CHOICES_NAME!r} result has no list of choices")
        chosen.extend(choices)
    if not chosen:
        return None
    if len(chosen) > 1:
        raise AnswerError(f"the annotation chose {len(chosen)} answers ({', '.join(chosen)})")
    if chosen[0] == SIMILAR:
        return True
    if chosen[0] == DISSIMILAR:
        return False
    if chosen[0] == UNSURE:
        return None
    raise AnswerError(
        f"unknown choice {chosen[0]!r} (expected {SIMILAR}, {DISSIMILAR} or {UNSURE})"
    )
