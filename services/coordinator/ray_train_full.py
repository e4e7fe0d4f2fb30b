"""Full-mode training on Ray Train: backbone and head fine-tuned data-parallel (DDP).

A full round fine-tunes the backbone, which is the work a GPU is for, so it runs where the Ray
cluster has them: a ``TorchTrainer`` with one worker per GPU (``use_gpu``), or, on a CPU-only
cluster, ``cpu_workers`` CPU workers (``ANNEAL_TRAIN_WORKERS``; DDP over gloo). Each worker
takes the round-0 model (through Ray's object store, so no node needs the coordinator's disk),
wraps it with ``ray.train.torch.prepare_model`` (DDP) and runs anneal's pair training step
(:meth:`anneal.training.trainer.PairTrainer.step`, the one :class:`~anneal.training.modes.
FullMode` runs in a process) on its shard of the pairs, reading the archive images from their
paths (every node must see the archive where the coordinator does). DDP averages the gradients,
so every worker takes the same number of steps; the learning rate is the one for all the pairs.
Rank 0 reports the trained model (backbone included) as the run's checkpoint, which becomes the
round's. Runs are kept under ``storage`` (``<state>/coordinator/ray-train``), their checkpoint
removed once the round has its own copy.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from ray.train import Checkpoint, RunConfig, ScalingConfig, TrainingFailedError
from ray.train.torch import TorchTrainer, get_device, prepare_model

from anneal.models.embedding_model import EmbeddingModel
from anneal.training.config import TrainConfig
from anneal.training.sources import ImageSource
from anneal.training.trainer import PairTrainer, TrainReport

MODEL_FILE = "model.pt"
"""The trained model's file in a run's checkpoint folder."""


@dataclass(frozen=True)
class FullTrainJob:
    """What every worker of one run is given."""

    initial: Any
    """Ray object reference to the round-0 :class:`EmbeddingModel`."""
    paths: list[str]
    pairs: np.ndarray
    similar: np.ndarray
    train: TrainConfig
    seed: int


def cluster_workers(cpu_workers: int) -> tuple[int, bool]:
    """How many workers full mode runs on the Ray cluster joined, and whether on GPUs: one per
    GPU where it has GPUs, else ``cpu_workers`` on CPUs."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    return (gpus, True) if gpus else (cpu_workers, False)


def shard_rows(pairs: int, rank: int, world: int) -> np.ndarray:
    """The pair rows worker ``rank`` of ``world`` trains on: every world-th from its rank, and
    at least one (a set smaller than the workers is repeated, so no worker is idle)."""
    return np.arange(rank, max(pairs, world), world) % pairs


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """One worker's part of a run: its shard of the pairs, stepped in lockstep under DDP."""
    job: FullTrainJob = config["job"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    started = time.perf_counter()
    device = get_device()
    model: EmbeddingModel = ray.get(job.initial)
    trainer = PairTrainer.from_config(job.train, str(device))
    rows = shard_rows(len(job.pairs), rank, world)
    pairs, similar = job.pairs[rows], job.similar[rows]
    total = trainer.steps(-(-len(job.pairs) // world))
    parallel = prepare_model(model)
    source = ImageSource([Path(p) for p in job.paths], model.backbone, str(device))
    optimiser = trainer.optimiser(parallel, len(job.pairs), len(job.paths))
    generator = torch.Generator().manual_seed(job.seed * 1_000 + rank)
    parallel.train()
    steps, last = 0, float("nan")
    for chosen in trainer.batches(len(pairs), generator, total):
        last = trainer.step(parallel, optimiser, source, pairs[chosen], similar[chosen], generator)
        steps += 1
    model.eval()
    metrics = {
        "loss": last,
        "steps": steps,
        "epochs": trainer.epochs_of(steps, len(pairs)),
        "workers": world,
        "seconds": time.perf_counter() - started,
    }
    with tempfile.TemporaryDirectory(prefix="anneal-full-") as folder:
        checkpoint = None
        if rank == 0:
            model.to("cpu").save(Path(folder) / MODEL_FILE, include_backbone=True)
            checkpoint = Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


class RayFullTrainer:
    """Full mode's trainer for the coordinator: ``fit`` as :class:`~anneal.training.modes.
    TrainingMode`'s, run on Ray Train. ``connect`` joins the Ray cluster (called before each
    run, so a coordinator that never runs a full round never starts Ray)."""

    include_backbone_in_checkpoint = True

    def __init__(
        self,
        paths: Sequence[Path],
        storage: Path,
        cpu_workers: int,
        connect: Callable[[], None],
    ) -> None:
        if cpu_workers < 1:
            raise ValueError(f"full-mode training needs at least 1 CPU worker, got {cpu_workers}")
        self._paths = paths  # the workspace's list: it grows with added images
        self._storage = storage
        self._cpu_workers = cpu_workers
        self._connect = connect

    def fit(
        self,
        initial: EmbeddingModel,
        pairs: np.ndarray,
        similar: np.ndarray,
        cfg: TrainConfig,
        generator: torch.Generator,
    ) -> tuple[EmbeddingModel, TrainReport]:
        """A new model fine-tuned from ``initial`` (never changed) on the labelled pairs."""
        if len(pairs) == 0:
            raise ValueError("full-mode training was given no pairs; label some first")
        self._connect()
        self._storage.mkdir(parents=True, exist_ok=True)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        workers, use_gpu = cluster_workers(self._cpu_workers)
        job = FullTrainJob(
            ray.put(initial), [str(p) for p in self._paths], pairs, similar, cfg, seed
        )
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"job": job},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(
                storage_path=str(self._storage), name=f"full-{uuid.uuid4().hex[:12]}"
            ),
        )
        try:
            result = trainer.fit()
        except TrainingFailedError as exc:
            raise RuntimeError(
                f"full-mode training failed on Ray Train ({type(exc).__name__}); the run's"
                f" worker logs under {self._storage} and Ray's logs say why"
            ) from exc
        checkpoint, metrics = result.checkpoint, result.metrics
        if checkpoint is None or metrics is None:
            raise RuntimeError(
                f"the Ray Train run {result.path} reported no model; its worker logs say why"
            )
        with checkpoint.as_directory() as folder:
            model = EmbeddingModel.load(Path(folder) / MODEL_FILE)
        shutil.rmtree(checkpoint.path, ignore_errors=True)  # the round keeps its copy
        report = TrainReport(
            int(metrics["epochs"]),
            int(metrics["steps"]),
            float(metrics["loss"]),
            float(metrics["seconds"]),
            workers=int(metrics["workers"]),
        )
        return model, report
