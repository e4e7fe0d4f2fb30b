"""Backbones by name, so configurations and checkpoints can name the one they used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from anneal.errors import ConfigError
from anneal.models.backbone import Backbone
from anneal.models.efficientnet_lite import EfficientNetLite0
from anneal.models.resnet import ResNetBackbone

BACKBONES: dict[str, Callable[[str | Path | None], Backbone]] = {
    "efficientnet-lite0": lambda w: EfficientNetLite0("shipped" if w is None else w),
    "resnet18": lambda w: ResNetBackbone(18, w),
    "resnet50": lambda w: ResNetBackbone(50, w),
}


def build_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """Build a backbone by name; EfficientNet-Lite0 defaults to its shipped ImageNet weights."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; choose one of {', '.join(sorted(BACKBONES))}"
        ) from None
    return factory(weights)
