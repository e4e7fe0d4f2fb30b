"""Proves who a caller is: a service's certificate on mutual TLS, else a bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import grpc

from services.common.catalog import SERVICES
from services.common.shown import shown
from services.security.principal import Principal, Role
from services.security.refusals import HOW_TO_AUTHENTICATE, NotAuthenticated
from services.security.token_verifier import TokenVerifier
from services.security.tokens import TokenError

_SERVICE_IDS: Mapping[str, str] = MappingProxyType(
    {spec.spiffe_id: name for name, spec in SERVICES.items()}
)


class Authenticator:
    """Turns a call's transport identity or ``authorization`` metadata into a Principal.

    gRPC fills ``peer_spiffe_id`` only from a client certificate it verified against the CA,
    which only the mutual-TLS (internal) port asks for, so it can be trusted as is.
    """

    def __init__(self, tokens: TokenVerifier | None) -> None:
        self._tokens = tokens

    def authenticate(self, method: str, context: grpc.ServicerContext) -> Principal:
        """The caller of ``method``; NotAuthenticated saying what is missing or wrong."""
        spiffe = context.auth_context().get("peer_spiffe_id")
        if spiffe:
            identity = spiffe[0].decode(errors="replace")
            name = _SERVICE_IDS.get(identity)
            if name is None:
                raise NotAuthenticated(
                    method, f"certificate identity {shown(identity)} is not an ANNEAL service"
                )
            return Principal(name, Role.SERVICE, "certificate")
        token = _bearer(context)
        if token is None:
            raise NotAuthenticated(method, f"no credential was sent; {HOW_TO_AUTHENTICATE}")
        if self._tokens is None:
            raise NotAuthenticated(method, "this port accepts service certificates only")
        try:
            record = self._tokens.verify(token)
        except TokenError as exc:
            raise NotAuthenticated(method, str(exc)) from None
        if record.role is Role.SERVICE and record.name not in SERVICES:
            raise NotAuthenticated(method, f"service token of unknown service {shown(record.name)}")
        return Principal(record.name, record.role, "token")


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata():
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None
