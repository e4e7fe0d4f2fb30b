"""The floor of a Python gRPC query path: a generic unary echo through 1 or 2 server hops.

Each hop is a server in its own process (as the services are): the last one echoes a fixed
reply, the ones before relay the request to the next over one long-lived channel. Servers are
synchronous (``grpc.server`` on a thread pool, as the services were) or asyncio
(``grpc.aio``). The client is the same kind as ``bench/retrieve_latency.py``'s: Python threads
in one process, one channel. ``retrieve_latency.py`` runs this beside its own rows, in the same
run; alone:

    .venv/bin/python bench/echo_floor.py [--queries 400] [--hops 1 2] [--kind sync aio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import ExitStack, contextmanager
from multiprocessing.connection import Connection
from typing import Any

import grpc
from latency_rows import CLIENT_COUNTS, Query, print_header, print_row, run_row

METHOD = "/bench.Echo/Call"
REPLY = b"x" * 1200  # about a top-20 Retrieve answer
REQUEST = b"q" * 40  # about a by-id query
KINDS = ("sync", "aio", "aio-sync-handlers")


def _sync_server(downstream: str, ready: Connection) -> None:
    channel = grpc.insecure_channel(downstream) if downstream else None
    call = channel.unary_unary(METHOD) if channel else None

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        return call(request) if call else REPLY

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    port = _bind_echo(server, handle)
    server.start()
    ready.send(port)
    _wait_for_stop(ready)
    server.stop(0)


def _bind_echo(server: grpc.Server | grpc.aio.Server, handle: Callable[..., Any]) -> int:
    """Register ``handle`` as the echo method on ``server``; the loopback port it listens on."""
    handler = grpc.unary_unary_rpc_method_handler(handle)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Echo", {"Call": handler}),)
    )
    return server.add_insecure_port("127.0.0.1:0")


async def _serve_aio(server: grpc.aio.Server, port: int, ready: Connection) -> None:
    """Start ``server``, tell the bench its port, stop when the bench says so."""
    await server.start()
    ready.send(port)
    await asyncio.get_running_loop().run_in_executor(None, _wait_for_stop, ready)
    await server.stop(0)


def _wait_for_stop(ready: Connection) -> None:
    with contextlib.suppress(EOFError):  # the bench closed the pipe: stop too
        ready.recv()


def _aio_server(downstream: str, ready: Connection) -> None:
    async def serve() -> None:
        channel = grpc.aio.insecure_channel(downstream) if downstream else None
        call = channel.unary_unary(METHOD) if channel else None

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await call(request) if call else REPLY

        server = grpc.aio.server()
        await _serve_aio(server, _bind_echo(server, handle), ready)

    asyncio.run(serve())


def _aio_sync_handler_server(downstream: str, ready: Connection) -> None:
    """An asyncio server running synchronous handlers in its thread pool (gRPC's migration
    mode): what a service gets by swapping its server without rewriting its servicers."""
    channel = grpc.insecure_channel(downstream) if downstream else None
    call = channel.unary_unary(METHOD) if channel else None

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        return call(request) if call else REPLY

    async def serve() -> None:
        server = grpc.aio.server(migration_thread_pool=futures.ThreadPoolExecutor(16))
        await _serve_aio(server, _bind_echo(server, handle), ready)

    asyncio.run(serve())


def _pid_of(process: multiprocessing.process.BaseProcess) -> int:
    if process.pid is None:
        raise RuntimeError("echo server process did not start")
    return process.pid


@contextmanager
def echo_chain(hops: int, kind: str) -> Iterator[tuple[str, list[int]]]:
    """``hops`` echo servers of ``kind`` in a chain: (address of the first, their pids)."""
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}; use one of {', '.join(KINDS)}")
    target = {
        "sync": _sync_server,
        "aio": _aio_server,
        "aio-sync-handlers": _aio_sync_handler_server,
    }[kind]
    context = multiprocessing.get_context("spawn")
    downstream, pids = "", []
    with ExitStack() as stack:
        for _ in range(hops):
            ours, theirs = context.Pipe()
            process = context.Process(target=target, args=(downstream, theirs), daemon=True)
            process.start()
            stack.callback(process.join, 10)
            stack.callback(ours.close)
            stack.callback(ours.send, "stop")
            port = ours.recv()
            downstream = f"127.0.0.1:{port}"
            pids.append(_pid_of(process))
        yield downstream, pids


def echo_query(channel: grpc.Channel) -> Query:
    """A query function in ``retrieve_latency.run_row``'s shape: (version 0, 1 'hit')."""
    call = channel.unary_unary(METHOD)

    def run(i: int) -> tuple[int, int]:
        call(REQUEST, timeout=30)
        return 0, 1

    return run


def floor_name(hops: int, kind: str) -> str:
    return f"echo floor, {hops} {kind} hop{'s' if hops > 1 else ''}"


def measure_floors(
    queries: int, hops: Sequence[int] = (1, 2), kinds: Sequence[str] = KINDS[:2]
) -> None:
    """Print the floor rows: each number of hops for each kind of server, 1 and 16 clients."""
    for kind in kinds:
        for count in hops:
            with (
                echo_chain(count, kind) as (address, pids),
                grpc.insecure_channel(address) as channel,
            ):
                query = echo_query(channel)
                for clients in CLIENT_COUNTS:
                    stats = run_row(query, 1, clients, max(1, queries // clients), 1, pids)
                    print_row(floor_name(count, kind), "echo", clients, "idle", stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--hops", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--kind", nargs="+", default=list(KINDS), choices=KINDS)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.queries} queries per row\n")
    print_header()
    measure_floors(args.queries, args.hops, args.kind)


if __name__ == "__main__":
    main()
