"""Train an embedding model on labelled pairs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from anneal.training.pair_loss import PairLoss
from anneal.training.sources import InputSource


@dataclass
class TrainReport:
    epochs: int
    steps: int
    final_loss: float
    seconds: float


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
        params = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=self.rate(len(pairs), len(source)))
        steps, last = 0, float("nan")
        for chosen in self._batches(len(pairs), generator):
            batch_pairs, batch_bits = pairs[chosen], similar[chosen]
            rows, local = np.unique(batch_pairs, return_inverse=True)
            x = source.batch(rows, augment=True, generator=generator).to(self.device)
            embeddings = model(x)
            loss = self.loss(
                embeddings,
                torch.from_numpy(local.reshape(-1, 2)).to(self.device),
                torch.from_numpy(batch_bits).to(self.device),
            )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            optimiser.step()
            steps += 1
            last = float(loss.detach())
        model.eval()
        per_epoch = -(-len(pairs) // self.batch_pairs)
        return TrainReport(-(-steps // per_epoch), steps, last, time.perf_counter() - start)

    def rate(self, pairs: int, images: int) -> float:
        """The learning rate for `pairs` training pairs over `images` archive images: `lr`,
        shrunk by sqrt(pairs / full) below full = lr_pairs_per_image * images."""
        full = self.lr_pairs_per_image * images
        if full <= 0 or pairs >= full:
            return self.lr
        return self.lr * float(np.sqrt(pairs / full))

    def _batches(self, n: int, generator: torch.Generator) -> Iterator[np.ndarray]:
        """Row indices of each batch: `epochs` shuffled passes over the n pairs, cut short after
        `max_steps` batches when that is set and fewer."""
        per_epoch = -(-n // self.batch_pairs)
        total = self.epochs * per_epoch
        if self.max_steps > 0:
            total = min(total, self.max_steps)
        done = 0
        while done < total:
            order = torch.randperm(n, generator=generator).numpy()
            for s in range(0, n, self.batch_pairs):
                if done == total:
                    return
                yield order[s : s + self.batch_pairs]
                done += 1
