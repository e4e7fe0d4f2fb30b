"""The trainer's step budget, the pair losses (margins and balanced mean worked out by hand) and
the larger head, on hand-sized data."""

import numpy as np
import pytest
import torch

from anneal.errors import ConfigError
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.head import ProjectionHead
from anneal.training.config import TrainConfig, check_mode
from anneal.training.pair_loss import PAIR_LOSSES, PairLoss
from anneal.training.sources import FeatureSource
from anneal.training.trainer import PairTrainer


def _pairs(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.stack([np.arange(n_pairs), np.arange(n_pairs) + 1], 1) % 12
    return np.sort(pairs, axis=1), np.arange(n_pairs) % 2 == 0


@pytest.mark.parametrize(
    ("max_steps", "steps", "passes"), [(0, 9, 3), (5, 5, 2), (9, 9, 3), (50, 9, 3)]
)
def test_max_steps_cuts_the_passes_short_and_never_adds_any(max_steps, steps, passes):
    # 10 pairs in batches of 4 = 3 batches a pass; 3 passes = 9 steps unless capped below that
    # (5 steps reach into the second pass).
    features = np.random.default_rng(0).random((12, 8)).astype(np.float32)
    pairs, similar = _pairs(10)
    trainer = PairTrainer(epochs=3, max_steps=max_steps, batch_pairs=4)
    report = trainer.fit(
        ProjectionHead(8), FeatureSource(features), pairs, similar, torch.Generator()
    )
    assert (report.steps, report.epochs) == (steps, passes)


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES))
def test_every_pair_loss_pulls_a_similar_pair_together(name):
    # One similar pair (0, 1) and one dissimilar (0, 2): a step must bring 0 and 1 closer.
    x = torch.tensor([[1.0, 0.0, 0.2], [0.0, 1.0, 0.2], [0.3, 0.3, 1.0]])
    head = ProjectionHead(3)
    loss = PairLoss.from_config(TrainConfig(loss=name))
    pairs, similar = torch.tensor([[0, 1], [0, 2]]), torch.tensor([True, False])
    before = torch.dist(*head(x)[:2]).item()
    value = loss(head(x), pairs, similar)
    value.backward()
    with torch.no_grad():
        grad = head.linear.weight.grad
        head.linear.weight -= 0.01 * grad / grad.norm()  # a small step, whatever the loss's scale
    assert value.item() > 0
    assert torch.dist(*head(x)[:2]).item() < before


def test_unknown_pair_loss_names_the_choices():
    with pytest.raises(ConfigError, match="contrastive"):
        PairLoss.from_config(TrainConfig(loss="triplet"))


def test_larger_head_starts_as_the_linear_one_and_round_trips(tmp_path):
    x = torch.from_numpy(np.random.default_rng(0).random((5, 1280)).astype(np.float32))
    model = EmbeddingModel.create(hidden=32)
    torch.testing.assert_close(model.head(x), ProjectionHead(1280)(x))
    with torch.no_grad():
        model.head.branch[2].weight.normal_()
    model.save(tmp_path / "m.pt")
    loaded = EmbeddingModel.load(tmp_path / "m.pt", backbone=model.backbone)
    assert loaded.head.hidden == 32
    torch.testing.assert_close(loaded.head(x), model.head(x))


def test_small_sets_train_at_a_lower_rate_per_archive_image():
    trainer = PairTrainer(lr=1e-3, lr_pairs_per_image=0.5)
    # 1,000 images: the full rate from 500 pairs; 20 pairs get sqrt(20 / 500) = 0.2 of it.
    assert trainer.rate(20, 1000) == pytest.approx(2e-4)
    assert trainer.rate(500, 1000) == trainer.rate(5000, 1000) == 1e-3
    # 30 pairs over a 20-image archive already cover it: full rate.
    assert trainer.rate(30, 20) == 1e-3
    assert PairTrainer(lr=1e-3).rate(1, 1000) == 1e-3  # 0 = off


# Unit vectors for the hand-worked losses: the L2 distance of 0 and 1 is sqrt(2), of 0 and 2
# (60 degrees apart) 1, of 0 and 3 (opposite) 2; 4 is 0 again (distance 0).
UNIT = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 3**0.5 / 2], [-1.0, 0.0], [1.0, 0.0]])
ROOT2 = 2**0.5


@pytest.mark.parametrize(
    ("pair", "similar", "margins", "expected"),
    [
        ((0, 4), True, (0.8, 1.2), 0.0),  # similar, inside pos_margin: no pull
        ((0, 2), True, (0.8, 1.2), 1.0 - 0.8),  # similar, outside: pulled by d - pos_margin
        ((0, 1), True, (0.8, 1.2), ROOT2 - 0.8),
        ((0, 2), True, (1.0, 1.2), 0.0),  # exactly on the margin: no pull
        ((0, 1), False, (0.8, 1.2), 0.0),  # dissimilar, beyond neg_margin: no push
        ((0, 2), False, (0.8, 1.2), 1.2 - 1.0),  # dissimilar, inside: pushed by neg_margin - d
        ((0, 4), False, (0.8, 1.2), 1.2),
        ((0, 1), False, (0.8, 1.5), 1.5 - ROOT2),  # the margins are the config's
    ],
)
def test_contrastive_loss_of_one_pair_is_its_hinge_on_the_margin(pair, similar, margins, expected):
    pos_margin, neg_margin = margins
    loss = PairLoss.from_config(TrainConfig(pos_margin=pos_margin, neg_margin=neg_margin))
    value = loss(UNIT, torch.tensor([pair]), torch.tensor([similar]))
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_contrastive_loss_averages_similar_and_dissimilar_terms_each_over_its_own_pairs():
    loss = PairLoss.from_config(TrainConfig(pos_margin=0.8, neg_margin=1.2))
    # 1 similar pair (sqrt(2) - 0.8) and 2 dissimilar ones (1.2 - 1 = 0.2 and 0, beyond the
    # margin): sqrt(2) - 0.8 + (0.2 + 0) / 2. A mean over all 3 pairs would be 0.27, a mean over
    # the non-zero terms only 0.81.
    three = loss(UNIT, torch.tensor([[0, 1], [0, 2], [0, 3]]), torch.tensor([True, False, False]))
    assert three.item() == pytest.approx(ROOT2 - 0.8 + 0.1, abs=1e-6)
    # 2 similar (0 and sqrt(2) - 0.8) and 2 dissimilar (0.2 and 1.2): each term its own mean.
    four = loss(
        UNIT,
        torch.tensor([[0, 4], [0, 1], [0, 2], [0, 4]]),
        torch.tensor([True, True, False, False]),
    )
    assert four.item() == pytest.approx((ROOT2 - 0.8) / 2 + (0.2 + 1.2) / 2, abs=1e-6)


def test_contrastive_loss_measures_the_directions_not_the_lengths():
    # The margins are on distances of unit vectors, whatever the model's output scale.
    loss = PairLoss()
    pairs, similar = torch.tensor([[0, 1], [0, 2]]), torch.tensor([True, False])
    assert loss(3 * UNIT, pairs, similar).item() == pytest.approx(loss(UNIT, pairs, similar).item())


def test_fit_without_pairs_takes_no_step_and_leaves_the_model_as_it_was():
    head = ProjectionHead(4)
    before = head.linear.weight.detach().clone()
    features = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    report = PairTrainer().fit(
        head,
        FeatureSource(features),
        np.empty((0, 2), np.int64),
        np.empty(0, bool),
        torch.Generator(),
    )
    assert (report.epochs, report.steps) == (0, 0)
    torch.testing.assert_close(head.linear.weight, before)


def test_a_fixed_total_of_batches_runs_more_passes_over_a_smaller_shard():
    # Data-parallel workers step in lockstep: a shard of 3 pairs in batches of 2 (2 batches a
    # pass) asked for 5 batches takes 3 passes, the last cut after its first batch.
    trainer = PairTrainer(epochs=1, batch_pairs=2)
    batches = list(trainer.batches(3, torch.Generator().manual_seed(0), total=5))
    assert [len(b) for b in batches] == [2, 1, 2, 1, 2]
    assert all(sorted(np.concatenate(batches[i : i + 2])) == [0, 1, 2] for i in (0, 2))
    assert trainer.steps(3) == 2 and len(list(trainer.batches(3, torch.Generator()))) == 2


def test_training_modes_are_checked_by_name():
    check_mode("head")
    check_mode("full")
    with pytest.raises(ConfigError, match="unknown training mode 'fast'; choose one of head, full"):
        check_mode("fast")
