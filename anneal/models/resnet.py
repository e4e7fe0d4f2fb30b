"""torchvision ResNet-18/50 backbones: random init unless a local weights file is given."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from anneal.models.backbone import Backbone

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255.0
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255.0


class ResNetBackbone(Backbone):
    """ResNet without its classifier; ImageNet mean/std input scaling."""

    input_size = 224

    def __init__(self, depth: int = 18, weights: str | Path | None = None) -> None:
        super().__init__()
        builders = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}
        if depth not in builders:
            raise ValueError(f"ResNet depth must be 18 or 50, got {depth}")
        net = builders[depth](weights=None)
        if weights is not None:
            state = torch.load(Path(weights), map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=False)
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()  # type: ignore[assignment]
        self.net = net
        source = Path(weights).stem if weights is not None else "random"
        self.name = f"resnet{depth}-{source}"
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", _MEAN.clone(), persistent=False)
        self.register_buffer("std", _STD.clone(), persistent=False)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
