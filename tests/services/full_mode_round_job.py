"""Run by test_full_mode_round.py in a process of its own (its own local Ray of 2 CPUs, so the
session's shared Ray, whose CPUs the embedding pool holds, is not involved).

``python full_mode_round_job.py SCRATCH`` starts the round stack (labels, search on Milvus Lite,
selection, coordinator; round_helpers.Stack) with full mode on that Ray (2 CPU workers), runs a
head round, a full round and another head round, each answered from the class folders, and
prints a JSON line: each round's state, mode and index version, the workers of the full round's
Ray Train run, how far the full round's backbone moved from round 0's, and how far each index
version's vectors are from the embeddings worked out here from the round's checkpoint.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np
import ray
import torch
from round_helpers import Stack, answer, wait_for

from anneal.data.image_io import read_image
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.registry import build_backbone
from anneal.training.config import TrainConfig
from anneal.training.trainer import TrainReport
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.common.server import AnnealServer
from services.coordinator.full_mode import full_round_mode
from services.coordinator.model_workspace import ModelWorkspace
from services.coordinator.round_mode import ModelTrainer, RoundMode
from services.security.channels import ChannelSecurity
from services.selection.vector_source import SearchServiceVectors

TRAIN = TrainConfig(epochs=2, batch_pairs=8)
"""Two steps per worker on the full round's 10 answers (5 a round) over 2 workers: seconds."""


class Recorded:
    """A trainer that keeps the reports of the runs it made."""

    def __init__(self, trainer: ModelTrainer) -> None:
        self.trainer = trainer
        self.reports: list[TrainReport] = []

    @property
    def include_backbone_in_checkpoint(self) -> bool:
        return self.trainer.include_backbone_in_checkpoint

    def fit(
        self,
        initial: EmbeddingModel,
        pairs: np.ndarray,
        similar: np.ndarray,
        cfg: TrainConfig,
        generator: torch.Generator,
    ) -> tuple[EmbeddingModel, TrainReport]:
        model, report = self.trainer.fit(initial, pairs, similar, cfg, generator)
        self.reports.append(report)
        return model, report


class Servers:
    """What the tests' ``serve`` fixture does: start a built server, give a channel to it."""

    def __init__(self) -> None:
        self.started: list[tuple[AnnealServer, grpc.Channel]] = []

    def __call__(
        self,
        built: tuple[AnnealServer, int],
        security: ChannelSecurity | None = None,
        internal: bool = False,
    ) -> grpc.Channel:
        server, port = built
        server.start()
        target = server.internal_port if internal else port
        channel = (security or ChannelSecurity()).channel(f"127.0.0.1:{target}")
        self.started.append((server, channel))
        return channel

    def stop(self) -> None:
        for server, channel in self.started:
            channel.close()
            server.stop(None).wait()


def run_round(stack: Stack, stub, number: int, strategy: str, mode: str) -> pb.RoundStatus:  # type: ignore[no-untyped-def]
    """Start round ``number``, answer its pairs and wait for it to finish."""
    stub.StartRound(
        pb.StartRoundRequest(
            strategy=strategy, budget=5, seed=number, close_when_answered=True, mode=mode
        )
    )
    answer(stack, number)
    finished = (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED)
    return wait_for(
        stub, lambda r: r.round.round == number and r.round.state in finished, 600
    ).round


def main(scratch: str) -> None:
    ray.init(
        num_cpus=2,
        object_store_memory=150 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="ray-", dir="/tmp"),
    )
    root = Path(scratch)
    servers = Servers()
    stack = Stack(servers, root)
    recorded: list[Recorded] = []

    def full(workspace: ModelWorkspace) -> RoundMode:
        parts = full_round_mode(workspace, root / "ray-train", 2, lambda: None)
        recorded.append(Recorded(parts.trainer))
        return RoundMode(recorded[-1], parts.reembedder)

    try:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(
            stack.start_coordinator(full, train=TRAIN)
        )
        wait_for(stub, lambda r: r.serving_index_version == 1, 120)
        vectors = SearchServiceVectors(
            stack.service_channel("selection", "search"), lambda: stack.ids
        )
        rounds, indexed = [], {}
        for number, strategy, mode in (
            (1, "mgue", "head"),
            (2, "random", "full"),
            (3, "random", "head"),
        ):
            rounds.append(run_round(stack, stub, number, strategy, mode))
            indexed[number] = vectors.vectors(0, 30).matrix  # the serving version: this round's
    finally:
        stack.close()
        servers.stop()
    images = [read_image(root / "archive" / image_id) for image_id in stack.ids]
    features = build_backbone("efficientnet-lite0").features(images)
    models = root / "state" / "coordinator" / "models"
    trained = {r.round: EmbeddingModel.load(models / f"{r.model_version}.pt") for r in rounds}
    pretrained = dict(build_backbone("efficientnet-lite0").named_parameters())  # no BN stats
    saved = torch.load(models / "round-2.pt", weights_only=True)["backbone_state"]
    moved = max(float((saved[k] - v.detach()).abs().max()) for k, v in pretrained.items())

    def gap(number: int, embeddings: np.ndarray) -> float:
        return float(np.abs(indexed[number] - embeddings).max())

    print(
        json.dumps(
            {
                "rounds": [(r.state, r.mode, r.index_version, r.error) for r in rounds],
                "full_runs": [r.workers for r in recorded[0].reports],
                "head_checkpoints_hold_a_backbone": [
                    torch.load(models / f"round-{n}.pt", weights_only=True)["backbone_state"]
                    is not None
                    for n in (1, 3)
                ],
                "backbone_moved": moved,
                "full_from_images": gap(2, trained[2].embed_images(images)),
                "full_from_cached_features": gap(2, trained[2].embed_features(features)),
                "head_from_cached_features": [
                    gap(n, trained[n].embed_features(features)) for n in (1, 3)
                ],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
