"""Servers of all six services behind the real access layer, for the access tests.

Each server binds the generated base servicer of its service (every method answers
UNIMPLEMENTED), so a call the policy admits ends UNIMPLEMENTED and a refused one ends
UNAUTHENTICATED or PERMISSION_DENIED, both decided by the access layer alone. TLS is on: tokens
go to the public port, service certificates to the mutual-TLS port.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.common.catalog import SERVICES
from services.common.server import AnnealServer, ServiceBinding, create_server
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.policy_matrix import Caller, Rpc
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import create_token


def binding_of(name: str) -> ServiceBinding:
    spec = SERVICES[name]
    pb2 = importlib.import_module(f"annealpb.{name}.v1.{name}_pb2")
    pb2_grpc = importlib.import_module(f"annealpb.{name}.v1.{name}_pb2_grpc")
    servicer = getattr(pb2_grpc, f"{spec.grpc_service}Servicer")()
    add = getattr(pb2_grpc, f"add_{spec.grpc_service}Servicer_to_server")
    return ServiceBinding.of(pb2, spec.grpc_service, servicer, add)


@dataclass
class SecuredSystem:
    """One access-checked server per service, and channels for every kind of caller."""

    local: LocalSecurity
    reload_s: float = 0.2
    servers: dict[str, tuple[AnnealServer, int]] = field(default_factory=dict)
    labelling_token: str = ""
    """A labelling service's token (``anneal serve`` makes none: it is created here)."""
    _channels: dict[tuple[str, str], grpc.Channel] = field(default_factory=dict)

    def start(self) -> SecuredSystem:
        self.local.ensure(["127.0.0.1"])
        self.labelling_token = create_token(
            self.local.tokens_file, "labelstudio", Role.LABELLING_SERVICE
        )[0]
        for name in SERVICES:
            security = ServerSecurity(
                tls=self.local.service_tls(name),
                tokens=TokenVerifier(self.local.tokens_file, self.reload_s),
            )
            built = create_server("127.0.0.1:0", [binding_of(name)], security)
            built[0].start()
            self.servers[name] = built
        return self

    def public(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service][1]}"

    def internal(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service][0].internal_port}"

    def channel_for(self, caller: Caller, service: str) -> grpc.Channel:
        """``caller``'s channel to ``service``: certificates on the internal port, else public."""
        key = (caller.label, service)
        if key not in self._channels:
            principal = caller.principal
            if principal is None:
                security = ChannelSecurity(ca=self.local.ca.read_bytes())
                address = self.public(service)
            elif principal.role is Role.LABELLING_SERVICE:
                security = ChannelSecurity(
                    ca=self.local.ca.read_bytes(), token=self.labelling_token
                )
                address = self.public(service)
            elif principal.role is Role.SERVICE:
                security = ChannelSecurity.for_service(self.local.service_tls(principal.name))
                address = self.internal(service)
            else:
                security = self.local.client(principal.role)
                address = self.public(service)
            self._channels[key] = security.channel(address)
        return self._channels[key]

    def stop(self) -> None:
        for channel in self._channels.values():
            channel.close()
        for server, _port in self.servers.values():
            server.stop(None).wait()


def call(channel: grpc.Channel, rpc: Rpc, timeout: float = 10.0) -> Any:
    """Call ``rpc`` with an empty request (a one-message stream where the client streams)."""
    serialize = rpc.request_type.SerializeToString
    deserialize = rpc.response_type.FromString
    request = rpc.request_type()
    if rpc.client_streaming and rpc.server_streaming:
        return list(
            channel.stream_stream(rpc.full_name, serialize, deserialize)(
                iter([request]), timeout=timeout
            )
        )
    if rpc.client_streaming:
        return channel.stream_unary(rpc.full_name, serialize, deserialize)(
            iter([request]), timeout=timeout
        )
    if rpc.server_streaming:
        return list(
            channel.unary_stream(rpc.full_name, serialize, deserialize)(request, timeout=timeout)
        )
    return channel.unary_unary(rpc.full_name, serialize, deserialize)(request, timeout=timeout)


def secured_system(root: Path) -> Iterator[SecuredSystem]:
    system = SecuredSystem(LocalSecurity.of(root)).start()
    try:
        yield system
    finally:
        system.stop()
