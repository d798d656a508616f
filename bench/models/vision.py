"""Image classifiers of the classification track, each with dropout before its output layers
(what MC dropout switches on at test time).

- ``small_cnn``, for the 8×8 stand-ins: conv3×3(C→32)–ReLU–conv3×3(32→64)–ReLU–maxpool2 –
  dropout(p)–linear(64·(s/2)² → 128)–ReLU–dropout(p)–linear(128 → K); 0.14 M parameters at 8×8.
- ``resnet20``, for CIFAR: He et al. (2016) §4.2, the 6n + 2 = 20-layer CIFAR ResNet: conv3×3(16),
  three stages of n = 3 basic blocks (16, 32, 64 channels, stride 2 at the start of stages 2 and
  3, batch norm, 1×1-convolution projection shortcuts where the shape changes — the paper's
  option B), global average pooling, dropout(p), linear(64 → K); 0.27 M parameters.

:func:`build` makes one from its name; :func:`enable_dropout` puts only the dropout layers in
training mode (batch norm keeps its running statistics), for MC dropout.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("small_cnn", "resnet20")


class SmallCNN(nn.Module):
    def __init__(self, channels: int, side: int, num_classes: int, dropout: float):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(64 * (side // 2) ** 2, 128), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False), nn.BatchNorm2d(outputs),
        )
        self.shortcut = nn.Identity() if stride == 1 and inputs == outputs else nn.Sequential(
            nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, channels: int, num_classes: int, dropout: float, blocks: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        width = 16
        for stage, out in enumerate((16, 32, 64)):
            for block in range(blocks):
                layers.append(BasicBlock(width, out, 2 if stage > 0 and block == 0 else 1))
                width = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(arch: str, channels: int, side: int, num_classes: int, dropout: float) -> nn.Module:
    """A fresh ``arch`` network, initialised from torch's global generator (seed it first)."""
    if arch == "small_cnn":
        return SmallCNN(channels, side, num_classes, dropout)
    if arch == "resnet20":
        return ResNet20(channels, num_classes, dropout)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def enable_dropout(model: nn.Module) -> None:
    """Eval mode everywhere except the dropout layers (MC dropout)."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()
