"""EmbeddingService over gRPC on loopback with a real local Ray pool: happy paths and status codes.

Expected vectors come from calling EmbeddingModel directly on the decoded images: the service
must give the same numbers. A dim-16 checkpoint with the identity head makes the version switch
checkable by hand: its vector is the pretrained vector's first 16 values, renormalised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from embedding_fixtures import (
    INITIAL_VERSION,
    WORKERS,
    embed_stream,
    fresh_catalog,
    png_images,
    vectors_of,
)

from anneal.data.image_io import decode_image
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.head import ProjectionHead
from anneal.models.model_version import ModelVersion
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.embedding.archive_images import ArchiveImages
from services.embedding.metrics import COLLECTORS
from services.embedding.server import create_server
from services.embedding.worker_pool import WorkerPool
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

Stub = embedding_pb2_grpc.EmbeddingServiceStub
IMAGES = png_images(8)

INSECURE = ServerSecurity.insecure()
EMBEDDING_REGISTRY = grpc_service_registry(COLLECTORS)


@functools.cache
def reference_model() -> EmbeddingModel:
    return EmbeddingModel.create("efficientnet-lite0")


def direct_vectors(images: list[bytes]) -> np.ndarray:
    return reference_model().embed_images([decode_image(data) for data in images])


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    from embedding_fixtures import shared_pool

    return shared_pool()


@pytest.fixture
def start(serve, pool: WorkerPool) -> Callable[..., Stub]:
    """``start(batch_size=..., ...)``: an embedding server over the shared pool; its stub."""

    def started(
        batch_size: int = 3, max_image_bytes: int = 1 << 20, archive: ArchiveImages | None = None
    ) -> Stub:
        built = create_server(
            "127.0.0.1:0",
            pool,
            fresh_catalog(),
            archive,
            batch_size,
            max_image_bytes,
            security=INSECURE,
        )
        return Stub(serve(built))

    return started


@pytest.fixture
def stub(start: Callable[..., Stub]) -> Stub:
    return start()


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dim-16 head-only checkpoint whose head keeps the first 16 normalised features."""
    reference = reference_model()
    model = EmbeddingModel(
        reference.backbone, ProjectionHead(1280, 16), "efficientnet-lite0", ModelVersion.trained(1)
    )
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    model.save(path)
    return path


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_embeds_in_order_like_the_model_itself(stub: Stub) -> None:
    ids = [f"tile-{i}" for i in range(len(IMAGES))]
    # Chunks of 500 bytes split every ~3 KB image into several chunks.
    responses = list(stub.EmbedImages(embed_stream(IMAGES, ids, max_batch=2, chunk_bytes=500)))
    assert [len(r.embeddings) for r in responses] == [2, 1, 2, 1, 2]  # batches of 3, 3, 2
    assert [e.image_id for r in responses for e in r.embeddings] == ids
    assert {(r.model_version, r.dimension) for r in responses} == {(INITIAL_VERSION, 1280)}
    vectors = vectors_of(responses)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(len(IMAGES)), abs=1e-5)
    np.testing.assert_allclose(vectors, direct_vectors(IMAGES), atol=1e-4)


def test_model_info_and_metrics(stub: Stub) -> None:
    list(stub.EmbedImages(embed_stream(IMAGES[:2])))
    info = stub.GetModelInfo(embedding_pb2.GetModelInfoRequest())
    assert (info.default_model_version, info.workers, info.device) == (
        INITIAL_VERSION,
        WORKERS,
        "cpu",
    )
    assert [(m.model_version, m.checkpoint_path, m.dimension) for m in info.models] == [
        (INITIAL_VERSION, "", 1280)
    ]
    assert info.images_per_second > 0
    assert EMBEDDING_REGISTRY.get_sample_value("anneal_embedding_workers_ready") == WORKERS
    assert (EMBEDDING_REGISTRY.get_sample_value("anneal_embedding_images_per_second") or 0) > 0


def test_archive_images_by_id(start: Callable[..., Stub], tmp_path: Path) -> None:
    for i, data in enumerate(IMAGES[:2]):
        (tmp_path / "fields").mkdir(exist_ok=True)
        (tmp_path / "fields" / f"f{i}.png").write_bytes(data)
    stub = start(archive=ArchiveImages.open(str(tmp_path)))
    requests = [
        embedding_pb2.EmbedImagesRequest(options=embedding_pb2.EmbedOptions()),
        embedding_pb2.EmbedImagesRequest(archive_image_id="fields/f1.png"),
        embedding_pb2.EmbedImagesRequest(archive_image_id="fields/f0.png"),
    ]
    responses = list(stub.EmbedImages(iter(requests)))
    assert [e.image_id for r in responses for e in r.embeddings] == [
        "fields/f1.png",
        "fields/f0.png",
    ]
    np.testing.assert_allclose(vectors_of(responses), direct_vectors(IMAGES[1::-1]), atol=1e-4)
    code, details = code_of(
        lambda: list(
            stub.EmbedImages(
                iter([requests[0], embedding_pb2.EmbedImagesRequest(archive_image_id="nope.png")])
            )
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND and "nope.png" in details


def test_version_switch_load_and_unload(stub: Stub, small_checkpoint: Path) -> None:
    load = embedding_pb2.LoadModelRequest(
        model_version="small", checkpoint_path=str(small_checkpoint)
    )
    reply = stub.LoadModel(load)
    assert (reply.loaded, reply.model.model_version, reply.model.dimension) == (True, "small", 16)
    assert not stub.LoadModel(load).loaded  # same version, same checkpoint: a no-op

    small = list(stub.EmbedImages(embed_stream(IMAGES[:3], model_version="small")))
    assert {(r.model_version, r.dimension) for r in small} == {("small", 16)}
    full = direct_vectors(IMAGES[:3])[:, :16]
    expected = full / np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors_of(small), expected, atol=1e-4)
    default = list(stub.EmbedImages(embed_stream(IMAGES[:1])))
    assert default[0].model_version == INITIAL_VERSION  # the default is unchanged

    # Another version of the same checkpoint becomes the default; the pretrained model stays loaded.
    stub.LoadModel(
        embedding_pb2.LoadModelRequest(
            model_version="small-default", checkpoint_path=str(small_checkpoint), make_default=True
        )
    )
    info = stub.GetModelInfo(embedding_pb2.GetModelInfoRequest())
    assert info.default_model_version == "small-default"
    assert [m.model_version for m in info.models] == [INITIAL_VERSION, "small", "small-default"]
    assert next(iter(stub.EmbedImages(embed_stream(IMAGES[:1])))).dimension == 16

    code, details = code_of(
        lambda: stub.UnloadModel(embedding_pb2.UnloadModelRequest(model_version="small-default"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "default" in details
    unload = embedding_pb2.UnloadModelRequest(model_version="small")
    assert stub.UnloadModel(unload).unloaded
    assert not stub.UnloadModel(unload).unloaded
    code, details = code_of(
        lambda: list(stub.EmbedImages(embed_stream(IMAGES[:1], model_version="small")))
    )
    assert code == grpc.StatusCode.NOT_FOUND and "small" in details


def test_load_model_refusals(stub: Stub, small_checkpoint: Path, tmp_path: Path) -> None:
    def load(version: str, path: str) -> tuple[grpc.StatusCode, str]:
        request = embedding_pb2.LoadModelRequest(model_version=version, checkpoint_path=path)
        return code_of(lambda: stub.LoadModel(request))

    missing = str(tmp_path / "missing.pt")
    assert load("v9", missing) == (
        grpc.StatusCode.NOT_FOUND,
        f"checkpoint {missing!r} does not exist; write it before LoadModel",
    )
    assert load("", str(small_checkpoint))[0] == grpc.StatusCode.INVALID_ARGUMENT
    code, details = load("v8", "x" * 5000)  # a name too long for the file system: not INTERNAL
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "cannot be read" in details
    assert len(details) < 400
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    code, details = load("junk", str(junk))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "'junk' cannot be loaded" in details
    other = tmp_path / "other.pt"
    other.write_bytes(small_checkpoint.read_bytes())
    assert load(INITIAL_VERSION, str(other))[0] == grpc.StatusCode.ALREADY_EXISTS
    info = stub.GetModelInfo(embedding_pb2.GetModelInfoRequest())
    assert [m.model_version for m in info.models] == [INITIAL_VERSION]  # nothing half-loaded


def test_bad_streams(start: Callable[..., Stub]) -> None:
    stub = start(max_image_bytes=10_000)
    options = embedding_pb2.EmbedImagesRequest(options=embedding_pb2.EmbedOptions())

    def chunk(image_id: str, data: bytes, last: bool = True) -> embedding_pb2.EmbedImagesRequest:
        return embedding_pb2.EmbedImagesRequest(
            chunk=embedding_pb2.ImageChunk(image_id=image_id, data=data, last=last)
        )

    def embed(*requests: embedding_pb2.EmbedImagesRequest) -> tuple[grpc.StatusCode, str]:
        return code_of(lambda: list(stub.EmbedImages(iter(requests))))

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert embed(chunk("a", IMAGES[0]))[0] == invalid  # no options first
    code, details = embed(options, chunk("good", IMAGES[0]), chunk("broken", b"not an image"))
    assert code == invalid and "'broken'" in details and "cannot decode" in details
    assert embed(options, chunk("", IMAGES[0]))[0] == invalid
    assert embed(options, chunk("a", IMAGES[0][:100], last=False))[0] == invalid
    assert embed(options, chunk("a", b"x", last=False), chunk("b", IMAGES[0]))[0] == invalid
    code, details = embed(options, chunk("huge", bytes(20_000)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "'huge'" in details
    versioned = embedding_pb2.EmbedImagesRequest(
        options=embedding_pb2.EmbedOptions(model_version="round-99")
    )
    code, details = embed(versioned, chunk("a", IMAGES[0]))
    assert code == grpc.StatusCode.NOT_FOUND and "round-99" in details
    code, _ = embed(options, embedding_pb2.EmbedImagesRequest(archive_image_id="a.png"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION  # no archive configured


def test_empty_stream_gives_no_embeddings(stub: Stub) -> None:
    assert list(stub.EmbedImages(embed_stream([]))) == []
