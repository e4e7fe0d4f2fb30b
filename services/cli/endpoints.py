"""Where the CLI finds the services: flags, else ``ANNEAL_<NAME>_ADDR``, else the default port."""

from __future__ import annotations

import os

import grpc

from services.common.settings import ADDRESSES
from services.security.channels import ChannelSecurity


def default_address(name: str) -> str:
    """``ANNEAL_<NAME>_ADDR`` or ``127.0.0.1:<catalog port>``."""
    setting = ADDRESSES[name]
    return os.environ.get(setting.env) or setting.default


def channel(address: str, security: ChannelSecurity) -> grpc.Channel:
    """A channel to ``address`` (``host:port``) with ``security``; ValueError if malformed.

    A person is waiting: a service that is down is reported at once (UNAVAILABLE), not waited
    for; calls that are safe to repeat are still retried by gRPC's retry policy.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    return security.channel(address, wait_for_ready=False)
