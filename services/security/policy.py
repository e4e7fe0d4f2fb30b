"""THE access policy: every RPC of the system and who may call it. Review changes to this file.

A method missing here is refused to everyone (default deny); the test suite fails when a proto
declares an RPC this table does not list. Health is open to all; reflection (when the server
enables it) to any authenticated caller. A ``service`` entry names the services that own the
step: only the coordinator builds, swaps and adds to indexes, only selection opens label rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from services.security.principal import Principal, Role


@dataclass(frozen=True)
class Rule:
    """Who may call one RPC: any of ``roles`` (tokens), or one of ``services`` (certificates).

    ``open`` needs no credential at all (health). ``audit`` logs every call of the method, who
    made it and with which arguments (admin actions: rounds, index swaps, model loads).
    """

    roles: frozenset[Role] = frozenset()
    services: frozenset[str] = frozenset()
    open: bool = False
    audit: bool = False

    def allows(self, caller: Principal) -> bool:
        """Whether ``caller`` may make the call."""
        if self.open or caller.role in self.roles:
            return True
        return caller.role is Role.SERVICE and caller.name in self.services

    def needs(self) -> str:
        """What the call needs, in words: ``role reader or operator, or the retrieval service``."""
        if self.open:
            return "no credential"
        parts = []
        if self.roles:
            parts.append("role " + " or ".join(sorted(role.value for role in self.roles)))
        if self.services:
            owners = " or ".join(sorted(self.services))
            parts.append(f"the {owners} service")
        return ", or ".join(parts) if parts else "nobody (the method is closed)"


def _rule(roles: Iterable[Role] = (), services: Iterable[str] = (), audit: bool = False) -> Rule:
    return Rule(roles=frozenset(roles), services=frozenset(services), audit=audit)


READ = (Role.READER, Role.OPERATOR)
"""Status reads and queries: readers, and operators (who can do everything a reader can)."""
ROUND_READ = (Role.READER, Role.ANNOTATOR, Role.OPERATOR)
"""Which round is open and how far it is: also what an annotator needs to find work."""
ANSWERING = (Role.ANNOTATOR, Role.LABELLING_SERVICE)
"""Who answers: people under their own name, labelling services for the people they name."""
ROUND_WATCH = (*ROUND_READ, Role.LABELLING_SERVICE)
"""The round reads a labelling service also needs, to follow rounds for its people."""
ANY_ROLE = tuple(Role)

_RETRIEVAL = "/anneal.retrieval.v1.RetrievalService/"
_EMBEDDING = "/anneal.embedding.v1.EmbeddingService/"
_SEARCH = "/anneal.search.v1.SearchService/"
_SELECTION = "/anneal.selection.v1.SelectionService/"
_LABELS = "/anneal.labels.v1.LabelService/"
_COORDINATOR = "/anneal.coordinator.v1.CoordinatorService/"

HEALTH_METHODS = ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch")
REFLECTION_METHODS = (
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
)

POLICY: Mapping[str, Rule] = MappingProxyType(
    {
        **{method: Rule(open=True) for method in HEALTH_METHODS},
        **{method: _rule(ANY_ROLE) for method in REFLECTION_METHODS},
        # Queries: client apps.
        _RETRIEVAL + "Retrieve": _rule(READ),
        _RETRIEVAL + "RetrieveBatch": _rule(READ),
        # Embedding: the query path and the coordinator's re-embedding and model rollout.
        _EMBEDDING + "EmbedImages": _rule(services=("retrieval", "coordinator")),
        _EMBEDDING + "GetModelInfo": _rule(READ, services=("coordinator",)),
        _EMBEDDING + "LoadModel": _rule(services=("coordinator",), audit=True),
        _EMBEDDING + "UnloadModel": _rule(services=("coordinator",), audit=True),
        # Search: only retrieval searches; only the coordinator builds, swaps and adds to indexes;
        # selection reads the serving vectors where they lie, the coordinator which ids it holds.
        _SEARCH + "Search": _rule(services=("retrieval",)),
        _SEARCH + "GetVector": _rule((Role.OPERATOR,)),
        _SEARCH + "BuildIndex": _rule(services=("coordinator",), audit=True),
        _SEARCH + "SwapIndex": _rule(services=("coordinator",), audit=True),
        _SEARCH + "AddToIndex": _rule(services=("coordinator",), audit=True),
        _SEARCH + "GetIndexInfo": _rule(READ, services=("coordinator", "selection", "retrieval")),
        _SEARCH + "ExportVectors": _rule(services=("selection", "coordinator")),
        # Selection: the coordinator starts a round's selection; annotators list pending pairs.
        _SELECTION + "StartRound": _rule(services=("coordinator",), audit=True),
        _SELECTION + "ListPendingPairs": _rule((*ANSWERING, Role.OPERATOR)),
        _SELECTION + "GetRound": _rule(ROUND_READ),
        # Labels: selection opens a round's pairs, the coordinator closes it; annotators answer and
        # withdraw their own answers (audited: it changes stored answers), labelling services
        # those of the people they name (stored as <service>:<person>, security/delegation.py).
        _LABELS + "OpenRound": _rule(services=("selection",), audit=True),
        _LABELS + "CloseRound": _rule(services=("coordinator",), audit=True),
        _LABELS + "SubmitLabels": _rule(ANSWERING),
        _LABELS + "WithdrawLabel": _rule(ANSWERING, audit=True),
        _LABELS + "ListLabels": _rule((Role.OPERATOR,)),
        _LABELS + "ListPairs": _rule((*ANSWERING, Role.OPERATOR), services=("selection",)),
        _LABELS + "GetRoundProgress": _rule(ROUND_WATCH, services=("coordinator", "selection")),
        _LABELS + "GetResolvedLabels": _rule(
            (Role.OPERATOR,), services=("coordinator", "selection")
        ),
        # Operators keep the labels safe: export lists the rounds, import restores an export,
        # backup copies the store into the service's own backup folder. A labelling service
        # lists the rounds too, to find the open ones.
        _LABELS + "ListRounds": _rule((Role.OPERATOR, Role.LABELLING_SERVICE)),
        _LABELS + "ImportLabels": _rule((Role.OPERATOR,), audit=True),
        _LABELS + "BackupLabels": _rule((Role.OPERATOR,), audit=True),
        # Coordinator: operators run rounds and ingest added images; everyone may read the status.
        _COORDINATOR + "StartRound": _rule((Role.OPERATOR,), audit=True),
        _COORDINATOR + "CloseRound": _rule((Role.OPERATOR,), audit=True),
        _COORDINATOR + "IngestArchive": _rule((Role.OPERATOR,), audit=True),
        _COORDINATOR + "GetStatus": _rule(ROUND_WATCH),
        _COORDINATOR + "WatchStatus": _rule(ROUND_WATCH),
        _COORDINATOR + "ListRounds": _rule(ROUND_WATCH),
    }
)

CLOSED = Rule()
"""The rule of a method the table does not list: nobody may call it."""


def rule_for(method: str) -> Rule:
    """The rule of ``/package.Service/Method``; :data:`CLOSED` for one not in the table."""
    return POLICY.get(method, CLOSED)
