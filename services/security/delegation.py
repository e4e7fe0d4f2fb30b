"""Delegated identity: a labelling service answering for the people of its own tool.

A caller of role ``labelling-service`` (e.g. the Label Studio bridge, token ``labelstudio``)
names the person in each answer's ``annotator_id``; the answer is stored under
``<token name>:<annotator_id>`` (``labelstudio:alice@example.org``). Token names cannot contain
``:`` (tokens.py), so a delegated identity is never a local annotator's (``alice``) nor another
labelling service's: each service writes and withdraws only inside its own namespace.
"""

from __future__ import annotations

from services.common.shown import shown
from services.security.principal import Principal, Role
from services.security.tokens import DELEGATION_SEPARATOR, MAX_NAME_LENGTH

MAX_DELEGATED_ID_LENGTH = 200
"""The longest person id a labelling service may send (an e-mail address fits)."""
MAX_IDENTITY_LENGTH = MAX_NAME_LENGTH + len(DELEGATION_SEPARATOR) + MAX_DELEGATED_ID_LENGTH
"""The longest identity an answer can be stored under: a delegated one."""


def check_delegated_id(annotator_id: str) -> None:
    """ValueError unless ``annotator_id`` can name a labelling service's person: 1 to 200
    printable characters (no control or format characters)."""
    if not annotator_id:
        raise ValueError(
            "annotator_id is empty: a labelling service must name the annotator it answers for "
            "(the person's id in its tool) in every label"
        )
    if len(annotator_id) > MAX_DELEGATED_ID_LENGTH:
        raise ValueError(
            f"annotator_id is {len(annotator_id)} characters long; at most "
            f"{MAX_DELEGATED_ID_LENGTH} are allowed"
        )
    if not annotator_id.isprintable():
        raise ValueError(
            f"annotator_id {shown(annotator_id)} contains control or other non-printable "
            "characters; send the person's id as printable text"
        )


def delegated_identity(service: Principal, annotator_id: str) -> str:
    """``<service name>:<annotator_id>``, the identity an answer of ``service`` (a
    labelling-service caller) for ``annotator_id`` is stored under; ValueError for a bad id."""
    if service.role is not Role.LABELLING_SERVICE:
        raise RuntimeError(f"{service.describe()} is not a labelling service")  # a bug: INTERNAL
    check_delegated_id(annotator_id)
    return f"{service.name}{DELEGATION_SEPARATOR}{annotator_id}"
