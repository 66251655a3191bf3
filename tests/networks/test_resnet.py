"""torchvision-named state_dicts load strictly into our ResNets without conversion.

The expected names and shapes are generated here from torchvision's architecture rule
(conv1/bn1, layerN.B.convK/bnK, downsample.0/.1 on the first block of a stage whose
stride or width changes, fc), independently of vidsearch.networks.resnet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidsearch.networks.resnet import (
    load_pretrained_backbone,
    resnet18,
    resnet50,
    resnet101,
    resnet_small,
)

BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(shapes: dict[str, tuple[int, ...]], name: str, c: int) -> None:
    for s in BN_SUFFIXES:
        shapes[f"{name}.{s}"] = () if s == "num_batches_tracked" else (c,)


def torchvision_shapes(bottleneck: bool, layers: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's resnet state_dict (1000-class fc)."""
    exp = 4 if bottleneck else 1
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}
    _bn(shapes, "bn1", 64)
    inplanes = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True), 1):
        for b in range(n):
            p = f"layer{stage}.{b}"
            cin = inplanes if b == 0 else planes * exp
            if bottleneck:
                convs = [(planes, cin, 1), (planes, planes, 3), (planes * exp, planes, 1)]
            else:
                convs = [(planes, cin, 3), (planes, planes, 3)]
            for k, (co, ci, ks) in enumerate(convs, 1):
                shapes[f"{p}.conv{k}.weight"] = (co, ci, ks, ks)
                _bn(shapes, f"{p}.bn{k}", co)
            if b == 0 and (stage > 1 or cin != planes * exp):
                shapes[f"{p}.downsample.0.weight"] = (planes * exp, cin, 1, 1)
                _bn(shapes, f"{p}.downsample.1", planes * exp)
        inplanes = planes * exp
    shapes["fc.weight"] = (1000, 512 * exp)
    shapes["fc.bias"] = (1000,)
    return shapes


def _fake_torchvision_file(tmp_path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.tensor(7) if s == () else torch.randn(s, generator=gen))
             for k, s in shapes.items()}
    path = tmp_path / "torchvision.pth"
    torch.save(state, path)
    return path


def test_well_known_torchvision_keys_are_present() -> None:
    keys101 = set(resnet101().state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.1.running_var",
              "layer3.22.conv2.weight", "layer4.2.conv3.weight", "layer4.0.downsample.0.weight",
              "fc.weight", "fc.bias"):
        assert k in keys101
    keys18 = set(resnet18().state_dict())
    assert "layer1.0.downsample.0.weight" not in keys18  # 64->64, stride 1: no projection
    assert "layer2.0.downsample.1.num_batches_tracked" in keys18
    assert resnet101().state_dict()["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)


@pytest.mark.parametrize(
    ("ctor", "bottleneck", "layers", "n_params"),
    [(resnet18, False, (2, 2, 2, 2), 11_689_512), (resnet50, True, (3, 4, 6, 3), 25_557_032),
     (resnet101, True, (3, 4, 23, 3), 44_549_160)],
)
def test_state_dict_matches_torchvision_rule(ctor, bottleneck, layers, n_params) -> None:  # type: ignore[no-untyped-def]
    model = ctor()
    expected = torchvision_shapes(bottleneck, layers)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == n_params  # torchvision's documented counts


@pytest.mark.parametrize(("ctor", "bottleneck", "layers"),
                         [(resnet18, False, (2, 2, 2, 2)), (resnet101, True, (3, 4, 23, 3))])
def test_torchvision_file_loads_strictly(tmp_path: Path, ctor, bottleneck, layers) -> None:  # type: ignore[no-untyped-def]
    shapes = torchvision_shapes(bottleneck, layers)
    path = _fake_torchvision_file(tmp_path, shapes)
    saved = torch.load(path, weights_only=True)
    model = ctor()
    load_pretrained_backbone(model, path)
    state = model.state_dict()
    for k in ("conv1.weight", "layer4.1.bn2.running_var" if not bottleneck else
              "layer4.2.conv3.weight", "fc.bias"):
        assert torch.equal(state[k], saved[k])
    # a feature extractor (no classifier) takes the same file, ignoring fc.*
    trunk = ctor(num_classes=0)
    load_pretrained_backbone(trunk, path)
    assert torch.equal(trunk.state_dict()["layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])


def test_mismatched_file_is_rejected(tmp_path: Path) -> None:
    shapes = torchvision_shapes(False, (2, 2, 2, 2))
    shapes["layer1.0.conv3.weight"] = (64, 64, 1, 1)  # a key resnet18 does not have
    path = _fake_torchvision_file(tmp_path, shapes)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_pretrained_backbone(resnet18(), path)


def test_small_resnet_feature_dim_and_shape() -> None:
    net = resnet_small(widths=(8, 16, 24, 32), blocks=(1, 2, 1, 1)).eval()
    out = net.forward_features(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 32)
    assert "layer2.1.conv2.weight" in net.state_dict()
    assert "fc.weight" not in net.state_dict()
