"""ResNet family with torchvision's exact parameter names (the copy descriptor's image
sub-model).

EP 4 390 725 A1 builds the image processing sub-model on an ImageNet-pretrained ResNet-101.
No pretrained weights can be downloaded here, so the modules keep torchvision's naming
(``conv1``, ``bn1``, ``layer1..4`` of ``BasicBlock``/``Bottleneck``, ``downsample.0/.1``,
``fc``): a torchvision state_dict loads with ``load_state_dict(strict=True)`` unchanged
whenever a local file is available. ``resnet_small`` is the CPU-sized starter network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

BlockKind = Literal["basic", "bottleneck"]


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with identity shortcut (torchvision ``BasicBlock``)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1-3x3-1x1 block, stride on the 3x3 (torchvision ``Bottleneck``, ResNet v1.5)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + identity)


class ResNet(nn.Module):
    """torchvision-compatible ResNet; ``num_classes=0`` drops ``fc`` (feature extractor)."""

    def __init__(
        self,
        block: BlockKind,
        layers: Sequence[int],
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError("ResNet needs 4 stages: layers and widths of length 4")
        block_cls: type[BasicBlock] | type[Bottleneck] = (
            BasicBlock if block == "basic" else Bottleneck
        )
        self.block = block
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block_cls, widths[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block_cls, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block_cls, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block_cls, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.feature_dim = widths[3] * block_cls.expansion
        self.fc: nn.Module = (
            nn.Linear(self.feature_dim, num_classes) if num_classes > 0 else nn.Identity()
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # each block starts as identity: stabler from scratch
            for m in self.modules():
                if isinstance(m, BasicBlock | Bottleneck):
                    nn.init.zeros_(m.last_bn().weight)

    def _make_layer(self, block_cls: type[BasicBlock] | type[Bottleneck], planes: int,
                    blocks: int, stride: int) -> nn.Sequential:
        downsample: nn.Module | None = None
        out_planes = planes * block_cls.expansion
        if stride != 1 or self.inplanes != out_planes:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, out_planes, stride), nn.BatchNorm2d(out_planes)
            )
        mods: list[nn.Module] = [block_cls(self.inplanes, planes, stride, downsample)]
        self.inplanes = out_planes
        mods += [block_cls(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward_features(self, x: Tensor) -> Tensor:
        """Globally pooled trunk output [N, feature_dim] (the seed's "image feature")."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc(self.forward_features(x))
        return out


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet("basic", (2, 2, 2, 2), num_classes=num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return ResNet("basic", (3, 4, 6, 3), num_classes=num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), num_classes=num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    """The patent's copy-descriptor backbone (ResNet-101)."""
    return ResNet("bottleneck", (3, 4, 23, 3), num_classes=num_classes)


def resnet_small(
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks: Sequence[int] = (1, 1, 1, 1),
    block: BlockKind = "basic",
    num_classes: int = 0,
    zero_init_residual: bool = True,
) -> ResNet:
    """CPU-sized ResNet for the starter recipe (same naming, fewer/narrower blocks)."""
    return ResNet(block, blocks, widths, num_classes, zero_init_residual)


ARCHS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
         "resnet101": resnet101}


def load_pretrained_backbone(model: ResNet, path: str | Path) -> None:
    """Load a local torchvision-named state_dict strictly; never downloads.

    Accepts a bare state_dict or a dict holding one under ``state_dict``. When ``model``
    has no classifier (``num_classes=0``) the file's ``fc.*`` entries are ignored; every
    other key must match exactly.
    """
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state_dict")
    if isinstance(model.fc, nn.Identity):
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    model.load_state_dict(state, strict=True)
