"""Seeded copy transforms (VSC 2022 / DISC21 style) on uint8 frame arrays [T, H, W, 3].

A copy-detection benchmark is only honest if its queries are edited the way real copies
are: cropped, rescaled, flipped, recoloured, blurred, overlaid, boxed into other content,
re-timed and re-encoded. Every transform is a small frozen dataclass whose fields are its
parameters, so a chain can be written to the manifest and rebuilt exactly. Spatial
transforms keep even sides (>= 16 px) because H.264 yuv420p needs them; temporal ones
report which source frame each output frame shows (``source_indices``), so ground-truth
segments survive speed and frame-rate changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from vidsearch.media.synthetic import BENCH_NEGATIVE_SEEDS, render_video

Rng = np.random.Generator
_MIN_SIDE = 16


def _even(x: float) -> int:
    """Nearest even side length, at least _MIN_SIDE."""
    return max(_MIN_SIDE, 2 * round(x / 2))


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of [T, H, W, 3] uint8 (numpy only; videos here are small)."""
    _, h, w, _ = frames.shape
    if (h, w) == (height, width):
        return frames

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        return lo, np.minimum(lo + 1, n_in - 1), (pos - lo).astype(np.float32)

    y0, y1, wy = axis(h, height)
    x0, x1, wx = axis(w, width)
    f = frames.astype(np.float32)
    rows = f[:, y0] * (1 - wy)[None, :, None, None] + f[:, y1] * wy[None, :, None, None]
    out = rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Transform:
    """Base: identity. Subclasses set ``name`` and override ``apply``."""

    name: ClassVar[str] = "identity"

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        return frames, fps

    def source_indices(self, n_frames: int, fps: float) -> tuple[np.ndarray, float]:
        """Which input frame each output frame shows, and the output fps."""
        return np.arange(n_frames), fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name plus parameters (tuples become lists)."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {"name": self.name, **params}


@dataclass(frozen=True)
class Crop(Transform):
    name: ClassVar[str] = "crop"
    left: float  # fractions of the frame
    top: float
    width: float
    height: float

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        _, h, w, _ = frames.shape
        ch, cw = min(h, _even(self.height * h)), min(w, _even(self.width * w))
        y, x = min(round(self.top * h), h - ch), min(round(self.left * w), w - cw)
        return np.ascontiguousarray(frames[:, y : y + ch, x : x + cw]), fps


@dataclass(frozen=True)
class Scale(Transform):
    name: ClassVar[str] = "scale"
    factor: float

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        _, h, w, _ = frames.shape
        return resize(frames, _even(h * self.factor), _even(w * self.factor)), fps


@dataclass(frozen=True)
class HFlip(Transform):
    name: ClassVar[str] = "hflip"

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        return np.ascontiguousarray(frames[:, :, ::-1]), fps


@dataclass(frozen=True)
class Rot90(Transform):
    """Rotate by k quarter turns counter-clockwise (phone footage turned sideways);
    timing unchanged."""

    name: ClassVar[str] = "rot90"
    k: int

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        return np.ascontiguousarray(np.rot90(frames, self.k, axes=(1, 2))), fps


@dataclass(frozen=True)
class ColorJitter(Transform):
    name: ClassVar[str] = "color_jitter"
    brightness: float  # multiplicative
    contrast: float  # around each frame's mean luma
    saturation: float  # 0 = grey
    hue: float  # turns, rotated in YIQ space

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        a = 2 * np.pi * self.hue
        rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        sat = np.diag([1.0, self.saturation, self.saturation])
        m = (np.linalg.inv(to_yiq) @ sat @ rot @ to_yiq * self.brightness).astype(np.float32)
        x = frames.astype(np.float32) @ m.T
        luma = (x @ to_yiq[0].astype(np.float32)).mean(axis=(1, 2))[:, None, None, None]
        return _to_u8(luma + self.contrast * (x - luma)), fps


@dataclass(frozen=True)
class Grayscale(Transform):
    name: ClassVar[str] = "grayscale"

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.repeat(_to_u8(luma)[..., None], 3, axis=-1), fps


@dataclass(frozen=True)
class GaussianBlur(Transform):
    name: ClassVar[str] = "blur"
    sigma: float  # pixels

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        out = ndimage.gaussian_filter(frames.astype(np.float32), (0, self.sigma, self.sigma, 0))
        return _to_u8(out), fps


@dataclass(frozen=True)
class GaussianNoise(Transform):
    name: ClassVar[str] = "noise"
    std: float  # grey levels; the noise itself comes from the apply rng

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        noise = rng.normal(0.0, self.std, frames.shape).astype(np.float32)
        return _to_u8(frames.astype(np.float32) + noise), fps


@dataclass(frozen=True)
class TextOverlay(Transform):
    """A line of glyph-like blocks (subtitles, captions) burnt in; no fonts needed."""

    name: ClassVar[str] = "text"
    n_glyphs: int
    left: float
    top: float
    glyph_height: float  # fraction of frame height
    color: tuple[int, int, int]
    seed: int  # which glyph bitmaps

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        _, h, w, _ = frames.shape
        bits = np.random.default_rng(self.seed).random((self.n_glyphs, 5, 3)) < 0.55
        line = np.concatenate([np.pad(g, ((0, 0), (0, 1))) for g in bits], axis=1)
        cell = max(1, round(self.glyph_height * h / 5))
        mask = np.kron(line, np.ones((cell, cell), dtype=bool))
        y, x = round(self.top * h), round(self.left * w)
        mask = mask[: max(0, h - y), : max(0, w - x)]
        out = frames.copy()
        region = out[:, y : y + mask.shape[0], x : x + mask.shape[1]]
        region[:, mask] = np.array(self.color, dtype=np.uint8)
        return out, fps


@dataclass(frozen=True)
class LogoOverlay(Transform):
    """A semi-transparent logo: a rectangle with a disk of another colour inside."""

    name: ClassVar[str] = "logo"
    left: float
    top: float
    size: float  # fraction of frame width
    color: tuple[int, int, int]
    accent: tuple[int, int, int]
    opacity: float

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        _, h, w, _ = frames.shape
        lw = max(4, round(self.size * w))
        lh = max(4, round(lw * 0.6))
        y, x = min(round(self.top * h), max(0, h - lh)), min(round(self.left * w), max(0, w - lw))
        lh, lw = min(lh, h - y), min(lw, w - x)
        yy, xx = np.mgrid[0:lh, 0:lw]
        disk = ((yy - lh / 2) / (lh * 0.35)) ** 2 + ((xx - lw / 2) / (lh * 0.35)) ** 2 < 1
        logo = np.where(disk[..., None], self.accent, self.color).astype(np.float32)
        out = frames.copy()
        region = out[:, y : y + lh, x : x + lw].astype(np.float32)
        out[:, y : y + lh, x : x + lw] = _to_u8(region * (1 - self.opacity) + logo * self.opacity)
        return out, fps


@dataclass(frozen=True)
class EmojiOverlay(Transform):
    """A few emoji-like stickers: a filled disk with two eyes and a mouth."""

    name: ClassVar[str] = "emoji"
    positions: tuple[float, ...]  # x0, y0, x1, y1, ... fractions of the frame
    size: float  # diameter, fraction of frame height
    color: tuple[int, int, int]

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        _, h, w, _ = frames.shape
        d = max(6, round(self.size * h))
        yy, xx = (np.mgrid[0:d, 0:d] + 0.5) / d - 0.5
        disk = yy**2 + xx**2 < 0.25
        eyes = ((yy + 0.12) ** 2 + (np.abs(xx) - 0.15) ** 2) < 0.006
        mouth = (np.abs(np.hypot(yy - 0.02, xx) - 0.25) < 0.05) & (yy > 0.1)
        out = frames.copy()
        for px, py in zip(self.positions[::2], self.positions[1::2], strict=True):
            y, x = min(round(py * h), h - d), min(round(px * w), w - d)
            if y < 0 or x < 0:
                continue
            region = out[:, y : y + d, x : x + d]
            region[:, disk] = np.array(self.color, dtype=np.uint8)
            region[:, disk & (eyes | mouth)] = np.array((40, 25, 10), dtype=np.uint8)
        return out, fps


@dataclass(frozen=True)
class Pad(Transform):
    """Borders (letterbox/pillarbox) of a flat colour."""

    name: ClassVar[str] = "pad"
    top: float  # fractions of the frame
    bottom: float
    left: float
    right: float
    color: tuple[int, int, int]

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        t, h, w, _ = frames.shape
        th, tw = h + round((self.top + self.bottom) * h), w + round((self.left + self.right) * w)
        th, tw = th + th % 2, tw + tw % 2
        out = np.empty((t, th, tw, 3), dtype=np.uint8)
        out[:] = np.array(self.color, dtype=np.uint8)
        y, x = min(round(self.top * h), th - h), min(round(self.left * w), tw - w)
        out[:, y : y + h, x : x + w] = frames
        return out, fps


@dataclass(frozen=True)
class PictureInPicture(Transform):
    """The copy shrunk into unrelated content of the original size: a procedural video
    (``host_seed``) or, with ``host_photo``, a natural photo through a camera path
    (``host_path`` = start and end windows, see real_sources.Shot); the benchmark only
    uses photos that no reference shows."""

    name: ClassVar[str] = "pip"
    scale: float
    left: float  # position of the inset within the free space, 0..1
    top: float
    host_seed: int  # a BENCH_NEGATIVE seed: never reference material
    host_photo: str = ""  # real_sources.Photo.key; overrides host_seed when set
    host_path: tuple[float, ...] = ()

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        t, h, w, _ = frames.shape
        if self.host_photo:
            from vidsearch.media.real_sources import Shot, render_shot

            start, end = self.host_path[:3], self.host_path[3:]
            host = render_shot(Shot(self.host_photo, t, (start[0], start[1], start[2]),
                                    (end[0], end[1], end[2])), w, h)
        else:
            host = render_video(self.host_seed, t / fps, fps, w, h)[:t].copy()
        ih, iw = min(h, _even(h * self.scale)), min(w, _even(w * self.scale))
        y, x = round(self.top * (h - ih)), round(self.left * (w - iw))
        host[:, y : y + ih, x : x + iw] = resize(frames, ih, iw)
        return host, fps


@dataclass(frozen=True)
class FrameRate(Transform):
    """Resample to another frame rate; duration and playback speed unchanged."""

    name: ClassVar[str] = "frame_rate"
    fps: float

    def source_indices(self, n_frames: int, fps: float) -> tuple[np.ndarray, float]:
        n_out = max(1, round(n_frames * self.fps / fps))
        idx = np.floor(np.arange(n_out) * fps / self.fps + 1e-9).astype(np.int64)
        return np.minimum(idx, n_frames - 1), self.fps

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        idx, out_fps = self.source_indices(len(frames), fps)
        return frames[idx], out_fps


@dataclass(frozen=True)
class Speed(Transform):
    """Play ``factor`` times faster (frame rate kept): fewer frames when factor > 1."""

    name: ClassVar[str] = "speed"
    factor: float

    def source_indices(self, n_frames: int, fps: float) -> tuple[np.ndarray, float]:
        n_out = max(1, round(n_frames / self.factor))
        idx = np.floor(np.arange(n_out) * self.factor + 1e-9).astype(np.int64)
        return np.minimum(idx, n_frames - 1), fps

    def apply(self, frames: np.ndarray, fps: float, rng: Rng) -> tuple[np.ndarray, float]:
        idx, out_fps = self.source_indices(len(frames), fps)
        return frames[idx], out_fps


@dataclass(frozen=True)
class ReEncode(Transform):
    """Low-bitrate re-encode: a no-op on frames, honoured by ``write_video(bit_rate=)``."""

    name: ClassVar[str] = "reencode"
    bit_rate: int  # bits/s; ~8-25 kbit/s is visibly degraded at 160x120, 8 fps


TRANSFORMS: dict[str, type[Transform]] = {
    cls.name: cls
    for cls in (Crop, Scale, HFlip, Rot90, ColorJitter, Grayscale, GaussianBlur, GaussianNoise,
                TextOverlay, EmojiOverlay, LogoOverlay, Pad, PictureInPicture, FrameRate, Speed,
                ReEncode)
}


def transform_from_dict(d: dict[str, Any]) -> Transform:
    """Rebuild a transform written by ``Transform.to_dict`` (e.g. from a manifest)."""
    cls = TRANSFORMS[d["name"]]
    kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}  # absent: the default
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    return cls(**kw)


def _color(rng: Rng) -> tuple[int, int, int]:
    return (int(rng.integers(256)), int(rng.integers(256)), int(rng.integers(256)))


def _draw(kind: str, rng: Rng) -> Transform:
    """Mild-but-real parameters: a person would still call the result a copy."""
    u = rng.uniform
    if kind == "crop":
        cw, ch = u(0.65, 0.92), u(0.65, 0.92)
        return Crop(u(0, 1 - cw), u(0, 1 - ch), cw, ch)
    if kind == "scale":
        return Scale(float(rng.choice([u(0.5, 0.85), u(1.1, 1.3)])))
    if kind == "hflip":
        return HFlip()
    if kind == "rot90":
        return Rot90(int(rng.choice([1, 3, 2], p=[0.4, 0.4, 0.2])))
    if kind == "emoji":
        n = int(rng.integers(1, 4))
        return EmojiOverlay(tuple(float(v) for v in u(0, 0.85, 2 * n)), u(0.12, 0.25),
                            (int(rng.integers(200, 256)), int(rng.integers(150, 230)), 0))
    if kind == "color_jitter":
        return ColorJitter(u(0.7, 1.3), u(0.7, 1.3), u(0.5, 1.5), u(-0.08, 0.08))
    if kind == "grayscale":
        return Grayscale()
    if kind == "blur":
        return GaussianBlur(u(0.8, 2.0))
    if kind == "noise":
        return GaussianNoise(u(4.0, 14.0))
    if kind == "text":
        return TextOverlay(int(rng.integers(3, 12)), u(0.02, 0.4), u(0.05, 0.85), u(0.07, 0.14),
                           _color(rng), int(rng.integers(2**31)))
    if kind == "logo":
        return LogoOverlay(u(0, 0.8), u(0, 0.8), u(0.1, 0.22), _color(rng), _color(rng),
                           u(0.6, 1.0))
    if kind == "pad":
        top, left = u(0, 0.15), u(0, 0.15)
        color = (0, 0, 0) if rng.random() < 0.5 else _color(rng)
        return Pad(top, float(rng.choice([top, u(0, 0.15)])), left, u(0, 0.15), color)
    if kind == "pip":
        return PictureInPicture(u(0.45, 0.75), u(0, 1), u(0, 1),
                                BENCH_NEGATIVE_SEEDS + int(rng.integers(1_000_000)))
    if kind == "frame_rate":
        return FrameRate(float(rng.choice([4.0, 6.0, 10.0, 12.0, 15.0])))
    if kind == "speed":
        return Speed(float(rng.choice([u(0.7, 0.9), u(1.15, 1.5)])))
    if kind == "reencode":
        return ReEncode(int(rng.integers(8_000, 25_000)))
    raise ValueError(f"unknown transform {kind!r}")


def random_chain(rng: Rng, n_min: int = 1, n_max: int = 3) -> list[Transform]:
    """1-3 distinct transforms with random mild parameters, in random order."""
    k = int(rng.integers(n_min, n_max + 1))
    kinds = rng.choice(list(TRANSFORMS), size=k, replace=False)
    return [_draw(str(kind), rng) for kind in kinds]


def draw_transform(kind: str, rng: Rng) -> Transform:
    """One transform of family ``kind`` (a TRANSFORMS key) with random mild parameters."""
    return _draw(kind, rng)


def apply_chain(
    chain: list[Transform], frames: np.ndarray, fps: float, rng: Rng
) -> tuple[np.ndarray, float]:
    """Apply transforms in order; returns the new frames and frame rate."""
    for tr in chain:
        frames, fps = tr.apply(frames, fps, rng)
    return frames, fps


def chain_source_indices(chain: list[Transform], n_frames: int, fps: float) -> np.ndarray:
    """For each output frame of the chain, the input frame it shows (temporal mapping)."""
    idx = np.arange(n_frames)
    for tr in chain:
        step, fps = tr.source_indices(len(idx), fps)
        idx = idx[step]
    return idx


def chain_bit_rate(chain: list[Transform]) -> int | None:
    """The bit rate a chain asks the file to be written at (None: default quality)."""
    rates = [tr.bit_rate for tr in chain if isinstance(tr, ReEncode)]
    return min(rates) if rates else None


def embed_segment(segment: np.ndarray, host: np.ndarray, at_frame: int) -> np.ndarray:
    """The host with ``segment`` overwriting frames from ``at_frame`` (resized to fit).

    Both must share a frame rate; the output keeps the host's length and size.
    """
    if at_frame < 0 or at_frame + len(segment) > len(host):
        raise ValueError(
            f"segment of {len(segment)} frames at {at_frame} does not fit a host of {len(host)}"
        )
    out = host.copy()
    out[at_frame : at_frame + len(segment)] = resize(segment, host.shape[1], host.shape[2])
    return out
