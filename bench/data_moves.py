"""What moving a round's embeddings and labels costs: per-item float lists against packed chunks.

For BuildIndex (coordinator -> search, with metadata) and ExportVectors (search -> selection,
no metadata), at each archive size: the bytes of the serialized messages (what goes on the
wire, less HTTP/2 framing), the sender's encode time (building the messages from the numpy
array and serializing them) and the receiver's decode time (parsing them and making the numpy
array the next step uses). Per item is the code as it was before packing (the coordinator's
256-item batches, the search service's 1000-item export batches, selection's per-item
``np.array``); packed is services/common/vector_chunks.py as the services use it. Both run in
this process, without gRPC or Milvus (their costs are the same either way), median of
``--repeats``. Synthetic data: seeded Gaussian vectors, UC Merced-like ids and metadata.

Selection's embeddings as it reads them now: the files the coordinator writes once per index
version (services/common/embedding_files.py), bytes on disk, write time (the coordinator) and
read time (selection's ``FileVectors``: map the version and go through every row once, as
choosing pairs does); nothing crosses gRPC. ExportVectors is what selection falls back to.

Labels: a real label service on loopback holding ``--rounds`` rounds of ``--budget`` answered
pairs; the GetResolvedLabels calls (counted by its ``grpc_server_handled_total``), bytes and
time (median of 3 x ``--repeats``) that selection and the coordinator spend reading the earlier
rounds' labels in round ``--rounds``: one call per round before, one call in all now.

    .venv/bin/python bench/data_moves.py [--sizes 2100 100000] [--dim 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.search.v1 import search_pb2
from services.common.embedding_files import EmbeddingFiles
from services.common.metrics import grpc_service_registry
from services.common.vector_chunks import pack_chunks, unpack_chunk
from services.coordinator.downstream import Downstream
from services.labels.metrics import COLLECTORS
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.search.build_rows import BuildRows, vectors_matrix
from services.security.channels import ChannelSecurity
from services.security.server_security import ServerSecurity
from services.selection.label_client import LabelClient
from services.selection.vector_source import FileVectors

Encoded = list[bytes]
OLD_BUILD_BATCH = 256
OLD_EXPORT_BATCH = 1000
MILVUS_PAGE = 10_000


def archive(n: int, dim: int) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
    ids = [f"class{i % 21:02d}/image{i:07d}.tif" for i in range(n)]
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return ids, vectors, [{"label": f"class{i % 21:02d}", "path": ids[i]} for i in range(n)]


# -- BuildIndex -----------------------------------------------------------------------------


def build_per_item(
    ids: Sequence[str], vectors: np.ndarray, meta: Sequence[dict[str, str]]
) -> Encoded:
    out = [
        search_pb2.BuildIndexRequest(options=search_pb2.BuildOptions(version=2)).SerializeToString()
    ]
    for start in range(0, len(ids), OLD_BUILD_BATCH):
        out.append(
            search_pb2.BuildIndexRequest(
                items=[
                    search_pb2.IndexItem(
                        image_id=ids[i],
                        vector=search_pb2.Vector(values=vectors[i].tolist()),
                        metadata=meta[i],
                    )
                    for i in range(start, min(start + OLD_BUILD_BATCH, len(ids)))
                ]
            ).SerializeToString()
        )
    return out


def build_packed(
    ids: Sequence[str], vectors: np.ndarray, meta: Sequence[dict[str, str]]
) -> Encoded:
    out = [
        search_pb2.BuildIndexRequest(options=search_pb2.BuildOptions(version=2)).SerializeToString()
    ]
    out.extend(
        search_pb2.BuildIndexRequest(chunk=chunk).SerializeToString()
        for chunk in pack_chunks(ids, vectors, meta)
    )
    return out


def receive_build_per_item(wire: Encoded) -> np.ndarray:
    items: list[search_pb2.IndexItem] = []
    for data in wire:
        items.extend(search_pb2.BuildIndexRequest.FromString(data).items)
    _ids, _meta = [i.image_id for i in items], [dict(i.metadata) for i in items]
    return vectors_matrix([item.vector for item in items], "item")


def receive_build_packed(wire: Encoded) -> np.ndarray:
    rows = BuildRows()
    for position, data in enumerate(wire):
        rows.add(search_pb2.BuildIndexRequest.FromString(data), position)
    return rows.rows()[1]


# -- ExportVectors --------------------------------------------------------------------------


def export_per_item(ids: Sequence[str], vectors: np.ndarray) -> Encoded:
    out = []
    for start in range(0, len(ids), OLD_EXPORT_BATCH):
        end = min(start + OLD_EXPORT_BATCH, len(ids))
        out.append(
            search_pb2.ExportVectorsResponse(
                items=[
                    search_pb2.IndexItem(
                        image_id=i, vector=search_pb2.Vector(values=v), metadata={}
                    )
                    for i, v in zip(ids[start:end], vectors[start:end].tolist(), strict=True)
                ],
                index_version=2,
                count=len(ids),
                dim=vectors.shape[1],
            ).SerializeToString()
        )
    return out


def export_packed(ids: Sequence[str], vectors: np.ndarray) -> Encoded:
    out = []
    for start in range(0, len(ids), MILVUS_PAGE):
        end = min(start + MILVUS_PAGE, len(ids))
        for chunk in pack_chunks(ids[start:end], vectors[start:end]):
            reply = search_pb2.ExportVectorsResponse(
                index_version=2, count=len(ids), dim=vectors.shape[1]
            )
            reply.chunk.CopyFrom(chunk)
            out.append(reply.SerializeToString())
    return out


def receive_export_per_item(wire: Encoded) -> np.ndarray:
    blocks: list[np.ndarray] = []
    ids: list[str] = []
    for data in wire:
        reply = search_pb2.ExportVectorsResponse.FromString(data)
        ids.extend(item.image_id for item in reply.items)
        blocks.append(np.array([item.vector.values for item in reply.items], np.float32))
    return np.concatenate(blocks)


def receive_export_packed(wire: Encoded) -> np.ndarray:
    blocks: list[np.ndarray] = []
    ids: list[str] = []
    for data in wire:
        rows = unpack_chunk(search_pb2.ExportVectorsResponse.FromString(data).chunk, "reply")
        ids.extend(rows.ids)
        blocks.append(rows.vectors)
    return np.concatenate(blocks)


def timed(call: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def vector_rows(n: int, dim: int, repeats: int) -> None:
    ids, vectors, meta = archive(n, dim)
    cases: list[tuple[str, str, Callable[[], Encoded], Callable[[Encoded], np.ndarray]]] = [
        (
            "BuildIndex",
            "per item",
            lambda: build_per_item(ids, vectors, meta),
            receive_build_per_item,
        ),
        ("BuildIndex", "packed", lambda: build_packed(ids, vectors, meta), receive_build_packed),
        (
            "ExportVectors",
            "per item",
            lambda: export_per_item(ids, vectors),
            receive_export_per_item,
        ),
        ("ExportVectors", "packed", lambda: export_packed(ids, vectors), receive_export_packed),
    ]
    for rpc, form, encode, decode in cases:
        encode_s, wire = timed(encode, repeats)
        assert isinstance(wire, list)
        decode_s, matrix = timed(functools.partial(decode, wire), repeats)
        assert isinstance(matrix, np.ndarray) and np.array_equal(matrix, vectors)
        size = sum(len(m) for m in wire)
        print(
            f"| {rpc} | {n:,} x {dim} | {form} | {len(wire):,} | {size / 1e6:.2f} MB"
            f" ({size / n:.0f} B/image) | {encode_s * 1e3:,.0f} | {decode_s * 1e3:,.0f} |"
            f" {(encode_s + decode_s) * 1e3:,.0f} |"
        )


def file_rows(n: int, dim: int, repeats: int, folder: Path) -> None:
    """Selection's embeddings from the coordinator's files: written once, read in place."""
    ids, vectors, _meta = archive(n, dim)
    files = EmbeddingFiles(folder / f"embeddings-{n}")
    write_s, written = timed(lambda: files.write(2, "round-1", ids, vectors), repeats)
    source = FileVectors(files, lambda: ids)

    def read() -> np.ndarray:
        matrix = source.load(2, None).matrix
        float(np.asarray(matrix).sum())  # every row read once, as choosing pairs does
        return matrix

    read_s, matrix = timed(read, repeats)
    assert isinstance(matrix, np.ndarray) and np.array_equal(matrix, written)
    size = sum(path.stat().st_size for path in files.path(2).iterdir())
    print(
        f"| embedding files | {n:,} x {dim} | written once, mapped by selection | 0 |"
        f" {size / 1e6:.2f} MB on disk ({size / n:.0f} B/image), 0 over gRPC |"
        f" {write_s * 1e3:,.0f} | {read_s * 1e3:,.0f} | {(write_s + read_s) * 1e3:,.0f} |"
    )


# -- labels ---------------------------------------------------------------------------------


def label_rows(rounds: int, budget: int, repeats: int, folder: Path) -> None:
    registry = grpc_service_registry(COLLECTORS)
    store = LabelStore(folder / "labels.db")
    server, port = create_server("127.0.0.1:0", store, security=ServerSecurity.insecure())
    server.start()
    channel = ChannelSecurity().channel(f"127.0.0.1:{port}")
    stub = labels_pb2_grpc.LabelServiceStub(channel)
    for number in range(1, rounds + 1):
        pairs = [
            labels_pb2.ImagePair(image_a=f"r{number}a{i:04d}", image_b=f"r{number}b{i:04d}")
            for i in range(budget)
        ]
        stub.OpenRound(labels_pb2.OpenRoundRequest(round=number, pairs=pairs))
        labels = [
            labels_pb2.Label(
                round=number,
                pair_id=i,
                similar=i % 2 == 0,
                annotator_id="a",
                idempotency_key=f"{number}-{i}",
            )
            for i in range(budget)
        ]
        stub.SubmitLabels(labels_pb2.SubmitLabelsRequest(labels=labels))

    def calls() -> float:
        labels = {
            "grpc_service": "anneal.labels.v1.LabelService",
            "grpc_method": "GetResolvedLabels",
            "grpc_code": "OK",
        }
        return registry.get_sample_value("grpc_server_handled_total", labels) or 0.0

    def per_round(numbers: range) -> int:
        size = 0
        for number in numbers:
            size += stub.GetResolvedLabels(
                labels_pb2.GetResolvedLabelsRequest(round=number), timeout=30
            ).ByteSize()
        return size

    selection_rounds, training_rounds = range(1, rounds), range(1, rounds + 1)
    downstream = Downstream(channel, channel, channel, None)
    client = LabelClient(channel)
    up_to = stub.GetResolvedLabels(
        labels_pb2.GetResolvedLabelsRequest(up_to_round=rounds)
    ).ByteSize()
    up_to_before = stub.GetResolvedLabels(
        labels_pb2.GetResolvedLabelsRequest(up_to_round=rounds - 1)
    ).ByteSize()
    cases: list[tuple[str, str, Callable[[], object], int | None]] = [
        ("selection", "one call per round", lambda: per_round(selection_rounds), None),
        ("selection", "up_to_round", lambda: client.resolved(selection_rounds, 30), up_to_before),
        ("coordinator", "one call per round", lambda: per_round(training_rounds), None),
        ("coordinator", "up_to_round", lambda: downstream.answers(training_rounds), up_to),
    ]
    for caller, form, call, size in cases:
        before = calls()
        result = call()
        made = calls() - before
        seconds, _ = timed(call, repeats)
        shown = result if size is None else size
        print(f"| {caller} | {form} | {made:.0f} | {shown:,} B | {seconds * 1e3:.1f} |")
    channel.close()
    server.stop(None).wait()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2100, 100_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()
    print("| RPC | images x dim | form | messages | bytes | encode ms | decode ms | both ms |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            vector_rows(n, args.dim, args.repeats)
            file_rows(n, args.dim, args.repeats, Path(folder))
    print(
        f"\nlabels of earlier rounds in round {args.rounds} ({args.budget} answered pairs a round)"
    )
    print("| caller | form | GetResolvedLabels calls | bytes received | ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        label_rows(args.rounds, args.budget, args.repeats * 3, Path(folder))


if __name__ == "__main__":
    main()
