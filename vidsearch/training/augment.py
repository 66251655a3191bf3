"""Batched, seeded image augmentations (torch), frame-level or clip-level.

Barlow Twins (patent 002) applies the SAME random crop/resize, flip, colour jitter,
greyscale and Gaussian blur to every frame of a clip (``augment_clips``); the near-duplicate
trainer's similar pairs are (frame, augmented copy) (``augment_frames``). Beyond the seed's
list we add what the copy-detection benchmark will throw at the model: noise,
padding/letterbox, overlays (logos, subtitles), picture-in-picture and a cheap re-encode
approximation (8x8 block smoothing, chroma subsampling, colour quantisation). All
randomness comes from the given ``torch.Generator``, so a seed reproduces a batch exactly.

Inputs are float [N,3,H,W] (or [B,T,3,H,W]) in [0,1]; outputs likewise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor


class AugmentConfig(BaseModel):
    """Probabilities and ranges; a probability of 0 disables the transform."""

    model_config = ConfigDict(extra="forbid")

    crop_p: float = Field(default=1.0, ge=0, le=1)
    crop_scale: tuple[float, float] = (0.3, 1.0)  # area fraction kept
    crop_ratio: tuple[float, float] = (0.75, 1.333)
    flip_p: float = Field(default=0.5, ge=0, le=1)
    rot90_p: float = Field(default=0.0, ge=0, le=1, description="rotate by 90/180/270 degrees")
    pad_p: float = Field(default=0.2, ge=0, le=1)
    pad_scale: tuple[float, float] = (0.6, 0.95)  # content size within the padded frame
    pip_p: float = Field(default=0.1, ge=0, le=1)
    pip_scale: tuple[float, float] = (0.4, 0.75)
    jitter_p: float = Field(default=0.8, ge=0, le=1)
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grey_p: float = Field(default=0.2, ge=0, le=1)
    blur_p: float = Field(default=0.3, ge=0, le=1)
    blur_sigma: tuple[float, float] = (0.3, 2.0)
    overlay_p: float = Field(default=0.25, ge=0, le=1)
    compress_p: float = Field(default=0.3, ge=0, le=1)
    noise_p: float = Field(default=0.3, ge=0, le=1)
    noise_std: tuple[float, float] = (0.01, 0.08)


class _Draw:
    """Per-group random draws from one generator (group = frame, or clip in clip mode)."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.g = n, generator

    def uniform(self, lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(self.n, generator=self.g)

    def coin(self, p: float) -> Tensor:
        return torch.rand(self.n, generator=self.g) < p


def _grey(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _hue_matrix(theta: Tensor) -> Tensor:
    """RGB->RGB hue rotation by ``theta`` radians through YIQ, [G,3,3]."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                           [0.211, -0.523, 0.312]])
    c, s = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(len(theta), 3, 3)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
    return torch.linalg.inv(to_yiq) @ rot @ to_yiq


def _geometry(x: Tensor, gi: Tensor, other: Tensor, d: _Draw, cfg: AugmentConfig,
              out_hw: tuple[int, int]) -> Tensor:
    """Crop/resize, flip, padding and picture-in-picture as one affine resampling."""
    n_g = d.n
    crop = d.coin(cfg.crop_p)
    area = d.uniform(*cfg.crop_scale)
    ratio = torch.exp(d.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    cw = torch.where(crop, torch.sqrt(area * ratio).clamp(max=1.0), 1.0)
    ch = torch.where(crop, torch.sqrt(area / ratio).clamp(max=1.0), 1.0)
    cx, cy = (1 - cw) * d.uniform(-1, 1), (1 - ch) * d.uniform(-1, 1)
    flip = torch.where(d.coin(cfg.flip_p), -1.0, 1.0)
    # content placement inside the output: padding (letterbox) or picture-in-picture
    pad, pip = d.coin(cfg.pad_p), d.coin(cfg.pip_p)
    pad_s, pip_s = d.uniform(*cfg.pad_scale), d.uniform(*cfg.pip_scale)
    letter = d.coin(0.5)  # pad one axis only (letterbox) or both (uniform border)
    ax = torch.where(pip, pip_s, torch.where(pad & ~letter, pad_s, 1.0))
    ay = torch.where(pip, pip_s, torch.where(pad, pad_s, 1.0))
    ox, oy = (1 - ax) * d.uniform(-1, 1), (1 - ay) * d.uniform(-1, 1)
    ox, oy = torch.where(pip, ox, ox * 0.3), torch.where(pip, oy, oy * 0.3)
    # Output -> input coordinates: content-local (u, v) = ((x - ox)/ax, (y - oy)/ay),
    # rotated by k quarter turns, then cropped and flipped: in = diag(cw*flip, ch) R u + c.
    k = torch.zeros(n_g, dtype=torch.long)  # no draw when off: older recipes reproduce
    if cfg.rot90_p > 0:
        k = torch.where(d.coin(cfg.rot90_p), torch.randint(1, 4, (n_g,), generator=d.g), 0)
    ang = k.float() * (math.pi / 2)
    cos, sin = torch.cos(ang).round(), torch.sin(ang).round()
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    scale_in = torch.stack([cw * flip, ch], -1).unsqueeze(-1)  # rows of diag(cw*flip, ch)
    lin = scale_in * rot / torch.stack([ax, ay], -1).unsqueeze(-2)
    theta = torch.zeros(n_g, 2, 3)
    theta[:, :, :2] = lin
    theta[:, :, 2] = torch.stack([cx, cy], -1) - (lin @ torch.stack([ox, oy], -1).unsqueeze(-1)
                                                   ).squeeze(-1)
    h, w = out_hw
    grid = F.affine_grid(theta[gi], [len(gi), 3, h, w], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # outside the content rectangle: a border colour (padding) or another clip (PiP)
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h).view(1, h, 1)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w).view(1, 1, w)
    inside = ((xs - ox[gi].view(-1, 1, 1)).abs() <= ax[gi].view(-1, 1, 1)) & (
        (ys - oy[gi].view(-1, 1, 1)).abs() <= ay[gi].view(-1, 1, 1))
    colour = torch.rand(n_g, 3, generator=d.g) * d.coin(0.5).float().view(-1, 1)  # black or random
    bg = colour[gi].view(-1, 3, 1, 1).expand_as(out)
    if bool(pip.any()):
        other_img = F.interpolate(x[other], size=out_hw, mode="bilinear", align_corners=False)
        bg = torch.where(pip[gi].view(-1, 1, 1, 1), other_img, bg)
    return torch.where(inside.unsqueeze(1), out, bg)


def _colour(x: Tensor, gi: Tensor, d: _Draw, cfg: AugmentConfig) -> Tensor:
    """Colour jitter (brightness, contrast, saturation, hue) then random greyscale."""
    on = d.coin(cfg.jitter_p)
    b = torch.where(on, d.uniform(1 - cfg.brightness, 1 + cfg.brightness), 1.0)[gi]
    c = torch.where(on, d.uniform(1 - cfg.contrast, 1 + cfg.contrast), 1.0)[gi]
    s = torch.where(on, d.uniform(1 - cfg.saturation, 1 + cfg.saturation), 1.0)[gi]
    hue = torch.where(on, d.uniform(-cfg.hue, cfg.hue), 0.0) * 2 * math.pi
    x = (x * b.view(-1, 1, 1, 1)).clamp(0, 1)
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * c.view(-1, 1, 1, 1) + mean).clamp(0, 1)
    grey = _grey(x)
    x = ((x - grey) * s.view(-1, 1, 1, 1) + grey).clamp(0, 1)
    x = torch.einsum("nij,njhw->nihw", _hue_matrix(hue)[gi], x).clamp(0, 1)
    to_grey = d.coin(cfg.grey_p)[gi].view(-1, 1, 1, 1)
    return torch.where(to_grey, _grey(x), x)


def _overlay(x: Tensor, gi: Tensor, d: _Draw, cfg: AugmentConfig) -> Tensor:
    """A logo/subtitle-like rectangle, optionally striped like text, alpha-blended."""
    on = d.coin(cfg.overlay_p)
    bw, bh = d.uniform(0.1, 0.6), d.uniform(0.06, 0.3)
    bx, by = d.uniform(0, 1) * (1 - bw), d.uniform(0, 1) * (1 - bh)
    freq = torch.where(d.coin(0.5), d.uniform(15, 60), 0.0)  # text-like stripes or solid
    alpha = d.uniform(0.5, 1.0) * on.float()
    colour = torch.rand(d.n, 3, generator=d.g)
    h, w = x.shape[-2:]
    ys = ((torch.arange(h) + 0.5) / h).view(1, h, 1)
    xs = ((torch.arange(w) + 0.5) / w).view(1, 1, w)
    inside = ((xs >= bx.view(-1, 1, 1)) & (xs <= (bx + bw).view(-1, 1, 1))
              & (ys >= by.view(-1, 1, 1)) & (ys <= (by + bh).view(-1, 1, 1)))
    ink = torch.sin(xs * freq.view(-1, 1, 1)) > -0.3
    mask = (inside & ink).float() * alpha.view(-1, 1, 1)
    m = mask[gi].unsqueeze(1)
    return x * (1 - m) + colour[gi].view(-1, 3, 1, 1) * m


def _blur(x: Tensor, gi: Tensor, d: _Draw, cfg: AugmentConfig) -> Tensor:
    """Gaussian blur with a per-group sigma (separable, reflect-padded)."""
    on = d.coin(cfg.blur_p)
    if not bool(on.any()):
        return x
    sigma = d.uniform(*cfg.blur_sigma)
    radius = math.ceil(3 * cfg.blur_sigma[1])
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    k = k / k.sum(dim=1, keepdim=True)
    delta = (t == 0).float().expand_as(k)
    k = torch.where(on.view(-1, 1), k, delta)[gi]  # [N, K]
    n, c, h, w = x.shape
    weight = k.repeat_interleave(c, dim=0)  # [N*C, K]
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, weight.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, weight.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def _compress(x: Tensor, gi: Tensor, d: _Draw, cfg: AugmentConfig) -> Tensor:
    """Re-encode approximation: 8x8 block smoothing, 2x2 chroma, colour quantisation."""
    on = d.coin(cfg.compress_p)
    if not bool(on.any()):
        return x
    h, w = x.shape[-2:]
    block = F.interpolate(F.avg_pool2d(x, 8, ceil_mode=True), size=(h, w), mode="nearest")
    a = (d.uniform(0.1, 0.5) * on.float())[gi].view(-1, 1, 1, 1)
    y = x * (1 - a) + block * a
    grey = _grey(y)
    chroma = F.interpolate(F.avg_pool2d(y - grey, 2, ceil_mode=True), size=(h, w), mode="nearest")
    y = grey + chroma
    levels = d.uniform(12, 48).round()[gi].view(-1, 1, 1, 1)
    y = torch.round(y * levels) / levels
    return torch.where(on[gi].view(-1, 1, 1, 1), y.clamp(0, 1), x)


def _augment(x: Tensor, gi: Tensor, n_groups: int, other: Tensor, cfg: AugmentConfig,
             generator: torch.Generator, out_hw: tuple[int, int]) -> Tensor:
    d = _Draw(n_groups, generator)
    x = _geometry(x, gi, other, d, cfg, out_hw)
    x = _colour(x, gi, d, cfg)
    x = _overlay(x, gi, d, cfg)
    x = _blur(x, gi, d, cfg)
    x = _compress(x, gi, d, cfg)
    noise_on = d.coin(cfg.noise_p)
    std = (d.uniform(*cfg.noise_std) * noise_on.float())[gi].view(-1, 1, 1, 1)
    x = x + std * torch.randn(x.shape, generator=generator)
    return x.clamp(0.0, 1.0)


def augment_frames(x: Tensor, cfg: AugmentConfig, generator: torch.Generator,
                   out_size: int | None = None) -> Tensor:
    """Independent augmentation per frame: [N,3,H,W] -> [N,3,S,S] (S = out_size or H,W)."""
    n = x.shape[0]
    out_hw = (out_size, out_size) if out_size else (x.shape[-2], x.shape[-1])
    idx = torch.arange(n)
    return _augment(x, idx, n, (idx + 1) % n, cfg, generator, out_hw)


def augment_clips(x: Tensor, cfg: AugmentConfig, generator: torch.Generator,
                  out_size: int | None = None) -> Tensor:
    """Clip-level augmentation (Barlow Twins): one draw per clip, shared by its T frames."""
    b, t = x.shape[:2]
    out_hw = (out_size, out_size) if out_size else (x.shape[-2], x.shape[-1])
    gi = torch.arange(b).repeat_interleave(t)
    other = ((gi + 1) % b) * t + torch.arange(t).repeat(b)
    y = _augment(x.reshape(b * t, *x.shape[2:]), gi, b, other, cfg, generator, out_hw)
    return y.view(b, t, *y.shape[1:])
