"""What each part of access control costs one loopback call, without the rest of the system.

One trivial RPC (LabelService.GetRoundProgress answered by a stub servicer) through the real
server layer (services.common.server.create_server), in this process: insecure; tokens on a
plaintext port; TLS + a token sent as metadata (what ANNEAL clients do); TLS + the same token
as gRPC call credentials (native ``access_token_call_credentials``, and a Python
``metadata_call_credentials`` plugin; ANNEAL uses neither);
mutual TLS with a service certificate. Prints p50/p99 in ms, medians over repetitions.

    .venv/bin/python bench/access_overhead.py [--calls 1500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.common.server import ServiceBinding, create_server
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier


class _PluginToken(grpc.AuthMetadataPlugin):
    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __call__(
        self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
    ) -> None:
        callback(self._metadata, None)


class _Progress(labels_pb2_grpc.LabelServiceServicer):
    def GetRoundProgress(
        self, request: labels_pb2.GetRoundProgressRequest, context: grpc.ServicerContext
    ) -> labels_pb2.GetRoundProgressResponse:
        return labels_pb2.GetRoundProgressResponse(round=request.round)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    local = LocalSecurity.of(Path(tempfile.mkdtemp(prefix="anneal-access-")))
    local.ensure(["127.0.0.1"])
    binding = ServiceBinding.of(
        labels_pb2, "LabelService", _Progress(), labels_pb2_grpc.add_LabelServiceServicer_to_server
    )
    tokens = TokenVerifier(local.tokens_file)
    token = local.role_token(Role.READER).read_text().strip()
    servers = {
        "open": ServerSecurity.insecure(),
        "tokens": ServerSecurity(tls=None, tokens=tokens),
        "tls": ServerSecurity(tls=local.service_tls("labels"), tokens=tokens),
    }
    started = {}
    for name, security in servers.items():
        server, port = create_server("127.0.0.1:0", [binding], security)
        server.start()
        started[name] = (server, port)
    tls_port = started["tls"][1]
    call_credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(local.ca.read_bytes()),
        grpc.access_token_call_credentials(token),
    )
    plugin_credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(local.ca.read_bytes()),
        grpc.metadata_call_credentials(_PluginToken(token)),
    )
    channels = {
        "insecure": ChannelSecurity().channel(f"127.0.0.1:{started['open'][1]}"),
        "token, no TLS": ChannelSecurity(token=token).channel(f"127.0.0.1:{started['tokens'][1]}"),
        "TLS + token as metadata (ANNEAL)": local.client(Role.READER).channel(
            f"127.0.0.1:{tls_port}"
        ),
        "TLS + token as call credentials": grpc.secure_channel(
            f"127.0.0.1:{tls_port}", call_credentials
        ),
        "TLS + token from a Python metadata plugin": grpc.secure_channel(
            f"127.0.0.1:{tls_port}", plugin_credentials
        ),
        "mutual TLS, service certificate": ChannelSecurity.for_service(
            local.service_tls("selection")
        ).channel(f"127.0.0.1:{started['tls'][0].internal_port}"),
    }
    request = labels_pb2.GetRoundProgressRequest(round=1)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in channels}
    for _ in range(args.repeats):
        for name, channel in channels.items():
            stub = labels_pb2_grpc.LabelServiceStub(channel)
            for _ in range(100):
                stub.GetRoundProgress(request, timeout=5)
            times = []
            for _ in range(args.calls):
                start = time.perf_counter()
                stub.GetRoundProgress(request, timeout=5)
                times.append(time.perf_counter() - start)
            times.sort()
            p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
            results[name].append((times[len(times) // 2], p99))
    print(f"{args.calls} calls x {args.repeats} repetitions, medians\n")
    print("| channel | p50 ms | p99 ms |")
    print("|---|---|---|")
    for name, runs in results.items():
        p50 = statistics.median(r[0] for r in runs) * 1000
        p99 = statistics.median(r[1] for r in runs) * 1000
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")
    for channel in channels.values():
        channel.close()
    for server, _port in started.values():
        server.stop(None)


if __name__ == "__main__":
    main()
