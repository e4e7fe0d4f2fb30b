"""Who is calling: a named caller with one role, and how that was proven."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The roles of the access model (docs/security.md)."""

    READER = "reader"
    """Client apps: Retrieve, RetrieveBatch and status reads."""
    ANNOTATOR = "annotator"
    """People: a round's pending pairs, SubmitLabels and WithdrawLabel under their own name."""
    LABELLING_SERVICE = "labelling-service"
    """A labelling tool's bridge answering for its people: every answer names one, stored as
    ``<token name>:<annotator_id>`` (services/security/delegation.py)."""
    OPERATOR = "operator"
    """Starts and closes rounds; everything a reader can."""
    SERVICE = "service"
    """Another ANNEAL service; internal RPCs are open to the service that owns the step."""

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named ``value``; ValueError listing the roles otherwise."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(role.value for role in cls)
            raise ValueError(f"unknown role {value!r}; use one of {names}") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``name`` (annotator id, client, labelling service or service
    name) and role.

    ``via`` says how it was proven: ``token`` (a bearer token) or ``certificate`` (a service's
    certificate on mutual TLS).
    """

    name: str
    role: Role
    via: str = "token"

    def describe(self) -> str:
        """``alice (annotator, token)`` for messages and logs."""
        return f"{self.name} ({self.role.value}, {self.via})"
