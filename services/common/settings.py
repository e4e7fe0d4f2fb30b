"""Service settings from command-line flags or ``ANNEAL_*`` environment variables, read once.

A flag wins over its environment variable, which wins over the default. Every service has the
common settings of docs/architecture.md (host, port, metrics port, log level); a service adds
its own with :meth:`SettingsParser.add`. Bad values stop the service at start-up with a message
that names the flag and its variable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.catalog import ServiceSpec
from services.security.settings import SecuritySettings, boolean


@dataclass(frozen=True)
class CommonSettings:
    """Settings every service has."""

    host: str
    port: int
    metrics_port: int
    log_level: str
    security: SecuritySettings

    @property
    def address(self) -> str:
        """``host:port`` to bind the gRPC server to."""
        return f"{self.host}:{self.port}"


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise argparse.ArgumentTypeError(
            f"unknown log level {value!r}; use DEBUG, INFO, WARNING or ERROR"
        )
    return level


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0..65535 (0 picks a free port)")
    return port


class SettingsParser:
    """Declares a service's settings and parses them from argv and the environment."""

    def __init__(self, spec: ServiceSpec, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._parser = argparse.ArgumentParser(
            prog=" ".join(spec.command),
            description=f"ANNEAL {spec.name} service ({spec.full_service_name})",
        )
        self.add("--host", "ANNEAL_HOST", "127.0.0.1", "address to listen on")
        self.add("--port", "ANNEAL_PORT", spec.grpc_port, "gRPC port (0: a free one)", _port)
        self.add(
            "--metrics-port",
            "ANNEAL_METRICS_PORT",
            spec.metrics_port,
            "Prometheus /metrics port (0: a free one)",
            _port,
        )
        self.add(
            "--log-level", "ANNEAL_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", _log_level
        )
        self.add(
            "--internal-port",
            "ANNEAL_INTERNAL_PORT",
            spec.internal_port,
            "mutual-TLS port for calls from other services (0: a free one)",
            _port,
        )
        self.add(
            "--health-port",
            "ANNEAL_HEALTH_PORT",
            spec.health_port,
            "with TLS: plaintext port serving health only, for probes (0: a free one)",
            _port,
        )
        self.add("--tls-cert", "ANNEAL_TLS_CERT", "", "PEM certificate of this service")
        self.add("--tls-key", "ANNEAL_TLS_KEY", "", "PEM private key of this service")
        self.add("--tls-ca", "ANNEAL_TLS_CA", "", "PEM CA bundle that verifies peers")
        self.add("--tokens-file", "ANNEAL_TOKENS_FILE", "", "JSON file of hashed bearer tokens")
        self.add(
            "--token-reload-s",
            "ANNEAL_TOKEN_RELOAD_S",
            5.0,
            "how often the tokens file is checked for changes, in seconds",
            float,
        )
        self.add(
            "--service-token-file",
            "ANNEAL_SERVICE_TOKEN_FILE",
            "",
            "this service's own token, for calls to others when TLS is off",
        )
        self.add(
            "--insecure",
            "ANNEAL_INSECURE",
            False,
            "true: no TLS and no access control at all (debugging only)",
            boolean,
        )
        self.add("--reflection", "ANNEAL_REFLECTION", True, "serve gRPC reflection", boolean)

    def add(
        self,
        flag: str,
        env: str,
        default: Any,
        help_text: str,
        parse: Callable[[str], Any] = str,
    ) -> None:
        """Adds ``flag`` read from ``env`` when the flag is absent, else ``default``."""
        from_env = self._environ.get(env)
        self._parser.add_argument(
            flag,
            type=parse,
            default=from_env if from_env is not None else default,
            help=f"{help_text} (env {env}; default %(default)s)",
        )

    def parse(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """Parses ``argv`` (default ``sys.argv[1:]``); exits with status 2 on a bad value."""
        return self._parser.parse_args(argv)


def common_settings(values: argparse.Namespace) -> CommonSettings:
    """The common settings out of a parsed namespace; SystemExit naming a bad combination."""
    try:
        security = SecuritySettings(
            tls_cert=values.tls_cert,
            tls_key=values.tls_key,
            tls_ca=values.tls_ca,
            tokens_file=values.tokens_file,
            token_reload_s=values.token_reload_s,
            service_token_file=values.service_token_file,
            internal_port=values.internal_port,
            health_port=values.health_port,
            insecure=values.insecure,
            reflection=values.reflection,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    return CommonSettings(
        host=values.host,
        port=values.port,
        metrics_port=values.metrics_port,
        log_level=values.log_level,
        security=security,
    )
