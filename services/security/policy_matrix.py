"""Every RPC of the system against every kind of caller, and what the policy says of each pair.

Read from the generated proto descriptors, so a new RPC appears here (and in the access tests
and the docs table) without anyone listing it, and is refused until the policy lists it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.common.catalog import SERVICES, ServiceSpec
from services.security.policy import rule_for
from services.security.principal import Principal, Role


@dataclass(frozen=True)
class Rpc:
    """One RPC: its service, full name and request type, and whether either side streams."""

    service: str
    full_name: str
    request_type: type[Message]
    response_type: type[Message]
    client_streaming: bool
    server_streaming: bool

    @property
    def method(self) -> str:
        return self.full_name.rpartition("/")[2]


def _pb2(spec: ServiceSpec) -> object:
    return importlib.import_module(f"annealpb.{spec.name}.v1.{spec.name}_pb2")


def system_rpcs() -> list[Rpc]:
    """The RPCs of the six services, as their protos declare them."""
    out = []
    for name, spec in SERVICES.items():
        descriptor = _pb2(spec).DESCRIPTOR.services_by_name[spec.grpc_service]  # type: ignore[attr-defined]
        for method in descriptor.methods:
            out.append(
                Rpc(
                    service=name,
                    full_name=f"/{descriptor.full_name}/{method.name}",
                    request_type=GetMessageClass(method.input_type),
                    response_type=GetMessageClass(method.output_type),
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                )
            )
    return out


class Verdict(StrEnum):
    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"
    DENIED = "denied"


@dataclass(frozen=True)
class Caller:
    """A kind of caller: nobody (no credential), a token of a role, or a service certificate."""

    label: str
    principal: Principal | None

    @classmethod
    def everyone(cls) -> list[Caller]:
        roles = [Role.READER, Role.ANNOTATOR, Role.LABELLING_SERVICE, Role.OPERATOR]
        return [
            cls("no credential", None),
            *(cls(f"{role.value} token", Principal(f"a-{role.value}", role)) for role in roles),
            *(
                cls(f"{name} certificate", Principal(name, Role.SERVICE, "certificate"))
                for name in SERVICES
            ),
        ]


def verdict(rpc: Rpc, caller: Caller) -> Verdict:
    """What the policy answers ``caller`` calling ``rpc``."""
    rule = rule_for(rpc.full_name)
    if rule.open:
        return Verdict.ALLOWED
    if caller.principal is None:
        return Verdict.UNAUTHENTICATED
    return Verdict.ALLOWED if rule.allows(caller.principal) else Verdict.DENIED


def matrix() -> Iterator[tuple[Rpc, Caller, Verdict]]:
    """Every (RPC, caller) pair with the policy's verdict."""
    callers = Caller.everyone()
    for rpc in system_rpcs():
        for caller in callers:
            yield rpc, caller, verdict(rpc, caller)
