"""Train an embedding model on labelled pairs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from anneal.training.config import TrainConfig
from anneal.training.pair_loss import PairLoss
from anneal.training.sources import InputSource


@dataclass
class TrainReport:
    epochs: int
    steps: int
    final_loss: float
    seconds: float
    workers: int = 1
    """Processes that trained data-parallel (the coordinator's full mode runs several)."""


class PairTrainer:
    """Minimises the pair loss with Adam over shuffled batches of pairs.

    What keeps a model trained on a few answers from falling below zero-shot is the learning
    rate for small sets (`lr_pairs_per_image`, see `rate`), not a pull towards the starting
    weights: an L2 pull of strength 1 froze learning on UC Merced (docs/BENCHMARKS.md, issue
    10, "A strong start"), so there is none.
    """

    def __init__(
        self,
        loss: PairLoss | None = None,
        epochs: int = 20,
        max_steps: int = 0,
        lr: float = 1e-3,
        lr_pairs_per_image: float = 0.0,
        batch_pairs: int = 256,
        device: str = "cpu",
    ) -> None:
        self.loss = loss or PairLoss()
        self.epochs = epochs
        self.max_steps = max_steps
        self.lr = lr
        self.lr_pairs_per_image = lr_pairs_per_image
        self.batch_pairs = batch_pairs
        self.device = device

    @classmethod
    def from_config(cls, cfg: TrainConfig, device: str = "cpu") -> PairTrainer:
        """The trainer a :class:`TrainConfig` describes, on ``device``."""
        return cls(
            PairLoss.from_config(cfg),
            epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            lr=cfg.lr,
            lr_pairs_per_image=cfg.lr_pairs_per_image,
            batch_pairs=cfg.batch_pairs,
            device=device,
        )

    def fit(
        self,
        model: nn.Module,
        source: InputSource,
        pairs: np.ndarray,
        similar: np.ndarray,
        generator: torch.Generator,
    ) -> TrainReport:
        """Train `model` in place on canonical `pairs` with bits `similar`."""
        start = time.perf_counter()
        if len(pairs) == 0:
            return TrainReport(0, 0, float("nan"), 0.0)
        model.to(self.device).train()
        optimiser = self.optimiser(model, len(pairs), len(source))
        steps, last = 0, float("nan")
        for chosen in self.batches(len(pairs), generator):
            last = self.step(model, optimiser, source, pairs[chosen], similar[chosen], generator)
            steps += 1
        model.eval()
        return TrainReport(
            self.epochs_of(steps, len(pairs)), steps, last, time.perf_counter() - start
        )

    def optimiser(self, model: nn.Module, pairs: int, images: int) -> torch.optim.Optimizer:
        """Adam over the model's trainable weights at the :meth:`rate` for ``pairs`` training
        pairs over ``images`` archive images."""
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.rate(pairs, images))

    def step(
        self,
        model: nn.Module,
        optimiser: torch.optim.Optimizer,
        source: InputSource,
        pairs: np.ndarray,
        similar: np.ndarray,
        generator: torch.Generator,
    ) -> float:
        """One optimiser step on a batch of canonical ``pairs``; the batch's loss. The images
        each batch names are fetched once (augmented) and embedded together."""
        rows, local = np.unique(pairs, return_inverse=True)
        x = source.batch(rows, augment=True, generator=generator).to(self.device)
        embeddings = model(x)
        loss = self.loss(
            embeddings,
            torch.from_numpy(local.reshape(-1, 2)).to(self.device),
            torch.from_numpy(similar).to(self.device),
        )
        optimiser.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimiser.step()
        return float(loss.detach())

    def epochs_of(self, steps: int, pairs: int) -> int:
        """Passes over ``pairs`` pairs that ``steps`` batches make (a started one counts)."""
        per_epoch = -(-pairs // self.batch_pairs)
        return -(-steps // per_epoch)

    def steps(self, n: int) -> int:
        """Batches a fit on ``n`` pairs takes: `epochs` passes, cut to `max_steps` when that is
        set and fewer."""
        total = self.epochs * -(-n // self.batch_pairs)
        return min(total, self.max_steps) if self.max_steps > 0 else total

    def rate(self, pairs: int, images: int) -> float:
        """The learning rate for `pairs` training pairs over `images` archive images: `lr`,
        shrunk by sqrt(pairs / full) below full = lr_pairs_per_image * images."""
        full = self.lr_pairs_per_image * images
        if full <= 0 or pairs >= full:
            return self.lr
        return self.lr * float(np.sqrt(pairs / full))

    def batches(
        self, n: int, generator: torch.Generator, total: int | None = None
    ) -> Iterator[np.ndarray]:
        """Row indices of each batch: shuffled passes over the n pairs, ``total`` batches in all
        (None: :meth:`steps`; more passes when it is larger, as data-parallel workers with
        shards of unequal size must all take the same number of steps)."""
        total = self.steps(n) if total is None else total
        done = 0
        while done < total:
            order = torch.randperm(n, generator=generator).numpy()
            for s in range(0, n, self.batch_pairs):
                if done == total:
                    return
                yield order[s : s + self.batch_pairs]
                done += 1
