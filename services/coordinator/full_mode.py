"""Full mode's parts for the coordinator: Ray Train fine-tuning and re-embedding on Ray actors.

Imported only by a coordinator that offers full rounds, when its workspace is ready (this pulls
in Ray); Ray itself is joined by ``connect`` on the first full round, so a coordinator that only
runs head rounds never starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.coordinator.model_workspace import ModelWorkspace
from services.coordinator.ray_reembedder import RayReEmbedder
from services.coordinator.ray_train_full import RayFullTrainer
from services.coordinator.round_mode import RoundMode


def full_round_mode(
    workspace: ModelWorkspace, storage: Path, cpu_workers: int, connect: Callable[[], None]
) -> RoundMode:
    """Full mode over ``workspace``'s images: Ray Train runs kept under ``storage``, one worker
    (and one re-embedding actor) per GPU, else ``cpu_workers`` on CPUs."""
    return RoundMode(
        RayFullTrainer(workspace.paths, storage, cpu_workers, connect),
        RayReEmbedder(cpu_workers, connect, batch=workspace.config.extract_batch),
    )
