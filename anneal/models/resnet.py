"""torchvision ResNet-18/50 backbones: random init unless a local weights file is given."""

from __future__ import annotations

import hashlib
import io
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
        source = "random"
        if weights is not None:
            data = Path(weights).read_bytes()
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            problem = f"is not a torchvision ResNet-{depth} state_dict"
            try:
                missing, unexpected = net.load_state_dict(state, strict=False)
            except RuntimeError as exc:  # shape mismatches
                raise ValueError(f"{weights} {problem}: {str(exc)[:200]}") from exc
            missing = [k for k in missing if not k.startswith("fc.")]
            if missing or unexpected:
                raise ValueError(
                    f"{weights} {problem} (missing {missing[:3]}, unexpected {unexpected[:3]})"
                )
            source = f"{Path(weights).stem}-{hashlib.sha256(data).hexdigest()[:8]}"
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()  # type: ignore[assignment]
        self.net = net
        self.name = f"resnet{depth}-{source}"
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", _MEAN.clone(), persistent=False)
        self.register_buffer("std", _STD.clone(), persistent=False)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
