from pathlib import Path

import numpy as np
import torch

from anneal.data.archive import Archive
from anneal.data.image_io import read_image
from anneal.models.efficientnet_lite import EfficientNetLite0
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.extract import extract_features
from anneal.models.head import ProjectionHead
from anneal.models.model_version import ModelVersion


def test_shipped_weights_load_strictly_and_give_finite_features():
    net = EfficientNetLite0()  # raises if any key is missing or unexpected
    out = net(torch.full((1, 3, 64, 64), 127.0))
    assert out.shape == (1, 1280) and torch.isfinite(out).all()


def test_identity_head_keeps_the_features_ranking():
    rng = np.random.default_rng(0)
    feats = rng.random((10, 16)).astype(np.float32)
    head = ProjectionHead(16)
    emb = head(torch.from_numpy(feats)).detach().numpy()
    normed = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    np.testing.assert_allclose(emb, normed, atol=1e-6)


def test_pca_head_compresses_and_normalises():
    feats = np.random.default_rng(0).random((30, 16)).astype(np.float32)
    head = ProjectionHead(16, 4)
    head.init_pca(feats)
    emb = head(torch.from_numpy(feats)).detach().numpy()
    assert emb.shape == (30, 4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_the_pca_head_read_in_chunks_projects_onto_the_top_svd_components():
    feats = (np.random.default_rng(1).random((30, 16)) + 2).astype(np.float32)  # far from 0
    head = ProjectionHead(16, 4)
    head.init_pca(feats, chunk_rows=7)  # five chunks, the last of 2 rows
    centred = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    centred -= centred.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    overlap = head.linear.weight.detach().numpy() @ vt[:4].T  # +-1 on the diagonal, 0 elsewhere
    np.testing.assert_allclose(np.abs(overlap), np.eye(4), atol=1e-4)


def test_features_embedded_in_chunks_are_the_features_embedded_at_once():
    model = EmbeddingModel.create(dim=8)
    feats = np.random.default_rng(2).random((30, model.head.in_dim)).astype(np.float32)
    model.head.init_pca(feats)
    np.testing.assert_allclose(
        model.embed_features(feats, chunk_rows=7), model.embed_features(feats), atol=1e-6
    )


def test_feature_cache_and_unreadable_file(tiny_archive: Path, tmp_path: Path):
    (tiny_archive / "red" / "broken.png").write_bytes(b"\x89PNG garbage")
    archive = Archive.from_folder(tiny_archive)
    model = EmbeddingModel.create()
    first = extract_features(archive, model.backbone, tmp_path / "cache")
    assert list(first.failed) == ["red/broken.png"]
    assert len(first.rows) == 18
    again = extract_features(archive, model.backbone, tmp_path / "cache")
    np.testing.assert_array_equal(first.features, again.features)


def test_checkpoint_round_trip(tmp_path: Path):
    model = EmbeddingModel.create(dim=None)
    with torch.no_grad():
        model.head.linear.weight.mul_(0.5)
    model.version = ModelVersion.trained(3)
    model.save(tmp_path / "m.pt")
    loaded = EmbeddingModel.load(tmp_path / "m.pt", backbone=model.backbone)
    assert loaded.version == ModelVersion.trained(3)
    torch.testing.assert_close(loaded.head.linear.weight, model.head.linear.weight)


def test_a_new_model_is_round_0_named_with_its_dimension():
    assert str(EmbeddingModel.create(dim=8).version) == "round-0-d8"


def test_checkpoints_that_hold_a_round_number_load_with_a_version(tmp_path: Path):
    model = EmbeddingModel.create(dim=8)
    for saved, expected in ((0, "round-0-d8"), (2, "round-2")):
        model.save(tmp_path / "m.pt")
        state = torch.load(tmp_path / "m.pt", weights_only=True)
        torch.save({**state, "version": saved}, tmp_path / "old.pt")  # as written before
        loaded = EmbeddingModel.load(tmp_path / "old.pt", backbone=model.backbone)
        assert str(loaded.version) == expected


def test_the_images_path_gives_the_features_path_numbers(tiny_archive: Path):
    archive = Archive.from_folder(tiny_archive)
    model = EmbeddingModel.create(dim=8)
    features = extract_features(archive, model.backbone).features
    model.head.init_pca(features)
    images = [read_image(item.path) for item in archive.images]
    by_features = model.embed_features(features)
    np.testing.assert_allclose(model.embed_images(images), by_features, atol=1e-6)
    resized_first = [model.backbone.resize(image) for image in images]  # as the workers do
    np.testing.assert_allclose(model.embed_images(resized_first), by_features, atol=1e-6)
    assert by_features.shape == (18, 8)


def test_resnet_weights_from_a_local_file(tmp_path: Path):
    import pytest
    import torchvision

    from anneal.models.registry import build_backbone

    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "r18.pt")
    backbone = build_backbone("resnet18", tmp_path / "r18.pt")
    torch.testing.assert_close(backbone.net.conv1.weight, reference.conv1.weight)
    assert backbone.name.startswith("resnet18-r18-") and backbone.feature_dim == 512
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a torchvision ResNet-18"):
        build_backbone("resnet18", tmp_path / "bad.pt")


def test_a_checkpoint_with_a_tuned_backbone_leaves_the_shared_backbone_alone(tmp_path: Path):
    tuned = EmbeddingModel.create(dim=8)
    with torch.no_grad():
        tuned.backbone._conv_stem.weight.add_(1.0)
    tuned.save(tmp_path / "full.pt", include_backbone=True)
    shared = EfficientNetLite0()
    before = shared._conv_stem.weight.detach().clone()
    loaded = EmbeddingModel.load(tmp_path / "full.pt", backbone=shared)
    assert torch.equal(shared._conv_stem.weight, before)
    assert torch.equal(loaded.backbone._conv_stem.weight, tuned.backbone._conv_stem.weight)
