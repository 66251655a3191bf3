"""Procedurally generated videos: the only material the networks train on.

Real footage is reserved for honest evaluation (see notes/components.md), so training
and the copy-detection benchmark draw on seeded synthetic videos instead. A video is a
few scenes; each scene pans/zooms over its own generated texture (random sinusoids,
noise octaves, stripes, checker, rings or cells mapped through a random palette) with a
few textured shapes moving smoothly over it. Scenes change with hard cuts.

Everything is a function of (seed, time in seconds, normalised position): the same seed
rendered at another fps or size shows the same content, and a shorter render is a
prefix of a longer one. That keeps frame-rate/scale transforms and sampling consistent.

Seed ranges keep material disjoint: training never sees benchmark videos.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # rendering frames needs no codec: PyAV is imported by the file writers,
    # so a training machine without PyAV (the GPU script's) can render the training videos
    import av
    import av.subtitles.stream

    from vidsearch.media.subtitles import Cue

TRAIN_SEEDS = 0  # training videos use seeds [0, 1_000_000)
BENCH_REFERENCE_SEEDS = 1_000_000  # benchmark references use [1_000_000, 2_000_000)
BENCH_NEGATIVE_SEEDS = 2_000_000  # benchmark negatives/fillers use [2_000_000, 3_000_000)
BACKGROUND_SEEDS = 3_000_000  # score-normalisation background set uses [3_000_000, ...)

_TEXTURE_KINDS = ("sines", "noise", "stripes", "checker", "rings", "cells")
_SHAPE_KINDS = ("disk", "ellipse", "rect", "ring", "triangle", "cross")
_MARGIN = 1.8  # texture is this many times the frame, so the camera can pan and zoom


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (all in [0,1]) to RGB float in [0,1], shape [..., 3]."""
    h6 = (h % 1.0) * 6.0
    i = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


@dataclass(frozen=True)
class _Style:
    """Per-video look: palette scheme and preferred textures/shapes, so seeds differ."""

    base_hue: float
    hue_spread: float
    sat: float
    texture_kinds: tuple[str, ...]
    shape_kinds: tuple[str, ...]


def _draw_style(rng: np.random.Generator) -> _Style:
    tex = tuple(rng.choice(_TEXTURE_KINDS, size=3, replace=False).tolist())
    shp = tuple(rng.choice(_SHAPE_KINDS, size=3, replace=False).tolist())
    return _Style(
        base_hue=float(rng.random()),
        hue_spread=float(rng.choice([0.08, 0.33, 0.5, 1.0])),
        sat=float(rng.uniform(0.35, 1.0)),
        texture_kinds=tex,
        shape_kinds=shp,
    )


def _palette_lut(rng: np.random.Generator, style: _Style) -> np.ndarray:
    """256-entry RGB lookup table through 3-5 random stops of the video's scheme."""
    n = int(rng.integers(3, 6))
    hues = style.base_hue + rng.uniform(-0.5, 0.5, n) * style.hue_spread + rng.normal(0, 0.04)
    sats = np.clip(style.sat + rng.normal(0, 0.15, n), 0.05, 1.0)
    vals = np.sort(rng.uniform(0.1, 1.0, n))
    if rng.random() < 0.5:
        vals = vals[::-1].copy()
    stops = _hsv_to_rgb(hues, sats, vals)
    pos = np.linspace(0.0, 1.0, n)
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, pos, stops[:, c]) for c in range(3)], axis=-1)
    return (lut * 255.0).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, cells: int) -> np.ndarray:
    """Value noise: a random grid of cells x cells bilinearly sampled at (u, v) in [0,1]."""
    grid = rng.random((cells + 1, cells + 1))
    gx, gy = u * cells, v * cells
    x0 = np.clip(np.floor(gx).astype(np.int64), 0, cells - 1)
    y0 = np.clip(np.floor(gy).astype(np.int64), 0, cells - 1)
    fx, fy = gx - x0, gy - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)  # smoothstep
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bot = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    out: np.ndarray = top * (1 - fy) + bot * fy
    return out


def _field(rng: np.random.Generator, kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A scalar field in [0,1] of the given texture kind on normalised coordinates."""
    if kind == "sines":
        f = np.zeros_like(u)
        for _ in range(int(rng.integers(3, 7))):
            ang, freq = rng.uniform(0, np.pi), rng.uniform(2, 14)
            f += np.sin(
                2 * np.pi * freq * (u * np.cos(ang) + v * np.sin(ang)) + rng.uniform(0, 6.3)
            )
    elif kind == "noise":
        f = np.zeros_like(u)
        for octave, cells in enumerate((4, 8, 16, 32)):
            f += _smooth_noise(rng, u, v, cells) * 0.55**octave
    elif kind == "stripes":
        ang, freq = rng.uniform(0, np.pi), rng.uniform(4, 16)
        warp = 0.15 * _smooth_noise(rng, u, v, 4)
        f = np.tanh(3 * np.sin(2 * np.pi * freq * (u * np.cos(ang) + v * np.sin(ang) + warp)))
    elif kind == "checker":
        ang, n = rng.uniform(0, np.pi / 2), rng.uniform(4, 12)
        ru, rv = u * np.cos(ang) - v * np.sin(ang), u * np.sin(ang) + v * np.cos(ang)
        f = ((np.floor(ru * n) + np.floor(rv * n)) % 2) + 0.4 * _smooth_noise(rng, u, v, 8)
    elif kind == "rings":
        cx, cy, freq = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(5, 20)
        f = np.sin(2 * np.pi * freq * np.hypot(u - cx, v - cy)) + 0.5 * _smooth_noise(rng, u, v, 6)
    else:  # cells: Voronoi regions with a random value each
        pts = rng.random((int(rng.integers(8, 24)), 2))
        d = (u[..., None] - pts[:, 0]) ** 2 + (v[..., None] - pts[:, 1]) ** 2
        f = rng.random(len(pts))[np.argmin(d, axis=-1)] + 0.15 * np.sqrt(d.min(axis=-1))
    lo, hi = float(f.min()), float(f.max())
    out: np.ndarray = (f - lo) / max(hi - lo, 1e-6)
    return out


@dataclass(frozen=True)
class _Shape:
    kind: str
    size: float  # radius, in fractions of frame height
    aspect: float
    pos0: tuple[float, float]  # normalised (x, y) at scene start
    vel: tuple[float, float]  # normalised units per second
    wobble: tuple[float, float, float]  # amplitude, angular freq, phase
    angle0: float
    spin: float  # radians per second
    colors: np.ndarray  # [2, 3] float: stripe colours inside the shape
    stripe_freq: float


@dataclass(frozen=True)
class _Scene:
    start_s: float
    end_s: float
    kind: str
    lut: np.ndarray
    field_seed: int
    cam0: tuple[float, float, float]  # x, y origin (fraction of free range), view scale
    cam1: tuple[float, float, float]
    shapes: tuple[_Shape, ...]


def _draw_scene(seed: int, index: int, start: float, end: float, style: _Style) -> _Scene:
    rng = np.random.default_rng([seed, index, 1])
    kind = str(rng.choice(style.texture_kinds))
    lut = _palette_lut(rng, style)
    cam0 = (float(rng.random()), float(rng.random()), float(rng.uniform(0.55, 1.0)))
    cam1 = (float(rng.random()), float(rng.random()), float(rng.uniform(0.55, 1.0)))
    shapes = []
    for _ in range(int(rng.integers(1, 5))):
        hue = style.base_hue + rng.uniform(-0.5, 0.5)
        colors = (
            _hsv_to_rgb(
                np.array([hue, hue + rng.uniform(0.1, 0.5)]),
                np.array([rng.uniform(0.5, 1), rng.uniform(0.2, 1)]),
                np.array([rng.uniform(0.6, 1), rng.uniform(0.05, 0.5)]),
            )
            * 255.0
        )
        shapes.append(
            _Shape(
                kind=str(rng.choice(style.shape_kinds)),
                size=float(rng.uniform(0.08, 0.25)),
                aspect=float(rng.uniform(0.5, 1.0)),
                pos0=(float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))),
                vel=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.08, 0.08))),
                wobble=(
                    float(rng.uniform(0, 0.08)),
                    float(rng.uniform(0.3, 2.0)),
                    float(rng.uniform(0, 6.3)),
                ),
                angle0=float(rng.uniform(0, 6.3)),
                spin=float(rng.uniform(-1.2, 1.2)),
                colors=colors.astype(np.float32),
                stripe_freq=float(rng.choice([0.0, rng.uniform(20, 60)])),
            )
        )
    return _Scene(start, end, kind, lut, int(rng.integers(2**31)), cam0, cam1, tuple(shapes))


def _texture(scene: _Scene, width: int, height: int) -> np.ndarray:
    """The scene's background texture in float32 RGB, _MARGIN times the frame size."""
    th, tw = int(height * _MARGIN) + 2, int(width * _MARGIN) + 2
    v, u = np.meshgrid(np.linspace(0, 1, th), np.linspace(0, 1, tw), indexing="ij")
    f = _field(np.random.default_rng(scene.field_seed), scene.kind, u, v)
    return scene.lut[(f * 255).astype(np.uint8)]


def _camera(tex: np.ndarray, scene: _Scene, a: float, width: int, height: int) -> np.ndarray:
    """Bilinear pan/zoom view into the texture at scene progress a in [0,1]."""
    s = np.interp(a, [0, 1], [scene.cam0[2], scene.cam1[2]])
    fx, fy = (np.interp(a, [0, 1], [scene.cam0[i], scene.cam1[i]]) for i in (0, 1))
    th, tw = tex.shape[:2]
    vh, vw = (th - 2) / _MARGIN * s, (tw - 2) / _MARGIN * s
    ys = fy * (th - 2 - vh) + np.arange(height) * (vh / height)
    xs = fx * (tw - 2 - vw) + np.arange(width) * (vw / width)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    lo = int(x0[0])
    band = tex[:, lo : int(x0[-1]) + 2]  # only the columns in view: separable blend is cheap
    rows = band[y0] * (1 - wy) + band[y0 + 1] * wy
    x0 = x0 - lo
    out: np.ndarray = np.take(rows, x0, axis=1) * (1 - wx) + np.take(rows, x0 + 1, axis=1) * wx
    return out


def _draw_shape(img: np.ndarray, sh: _Shape, t: float, gx: np.ndarray, gy: np.ndarray) -> None:
    """Paint one shape in place at scene time t (seconds); coordinates in frame heights."""
    height, width = img.shape[:2]
    aspect = width / height
    amp, w, ph = sh.wobble
    cx = (sh.pos0[0] + sh.vel[0] * t + amp * np.sin(w * t + ph)) % 1.2 - 0.1
    cy = (sh.pos0[1] + sh.vel[1] * t + amp * np.cos(w * t + ph)) % 1.2 - 0.1
    ang = sh.angle0 + sh.spin * t
    ext = 1.5 * sh.size  # bounding half-extent of every shape kind, in frame heights
    y_lo, y_hi = int(max((cy - ext) * height, 0)), int(min((cy + ext) * height + 1, height))
    x_lo = int(max((cx * aspect - ext) * height, 0))
    x_hi = int(min((cx * aspect + ext) * height + 1, width))
    if y_lo >= y_hi or x_lo >= x_hi:
        return
    img = img[y_lo:y_hi, x_lo:x_hi]
    dx, dy = gx[y_lo:y_hi, x_lo:x_hi] - cx * aspect, gy[y_lo:y_hi, x_lo:x_hi] - cy
    lx = dx * np.cos(ang) + dy * np.sin(ang)
    ly = -dx * np.sin(ang) + dy * np.cos(ang)
    r, b = sh.size, sh.size * sh.aspect
    if sh.kind == "disk":
        mask = lx**2 + ly**2 < r * r
    elif sh.kind == "ellipse":
        mask = (lx / r) ** 2 + (ly / b) ** 2 < 1
    elif sh.kind == "rect":
        mask = (np.abs(lx) < r) & (np.abs(ly) < b)
    elif sh.kind == "ring":
        d2 = lx**2 + ly**2
        mask = (d2 < r * r) & (d2 > (0.55 * r) ** 2)
    elif sh.kind == "triangle":
        mask = np.ones_like(lx, dtype=bool)
        for k in range(3):
            th = 2 * np.pi * k / 3
            mask &= lx * np.cos(th) + ly * np.sin(th) < 0.5 * r
    else:  # cross
        mask = ((np.abs(lx) < r) & (np.abs(ly) < 0.3 * b)) | (
            (np.abs(lx) < 0.3 * b) & (np.abs(ly) < r)
        )
    if sh.stripe_freq > 0:
        pick = (np.sin(lx[mask] * sh.stripe_freq) > 0).astype(np.int64)
        img[mask] = sh.colors[pick]
    else:
        img[mask] = sh.colors[0]


def _scene_bounds(seed: int, duration_s: float) -> list[tuple[float, float]]:
    """Scene start/end times; drawn sequentially so shorter renders are prefixes."""
    rng = np.random.default_rng([seed, 0, 0])
    bounds, t = [], 0.0
    while t < duration_s:
        length = float(rng.uniform(3.0, 9.0))
        bounds.append((t, t + length))
        t += length
    return bounds


def render_video(
    seed: int, duration_s: float, fps: float = 8.0, width: int = 160, height: int = 120
) -> np.ndarray:
    """Render a seeded synthetic video as uint8 RGB frames [T, H, W, 3]."""
    if duration_s <= 0 or fps <= 0 or width < 2 or height < 2:
        raise ValueError(f"bad render size: {duration_s=} {fps=} {width=} {height=}")
    n = max(1, round(duration_s * fps))
    style = _draw_style(np.random.default_rng([seed, 0, 2]))
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    gy, gx = np.meshgrid(
        (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / height, indexing="ij"
    )
    times = np.arange(n) / fps
    for idx, (start, end) in enumerate(_scene_bounds(seed, duration_s)):
        sel = np.nonzero((times >= start) & (times < end))[0]
        if len(sel) == 0:
            continue
        scene = _draw_scene(seed, idx, start, end, style)
        tex = _texture(scene, width, height)
        for i in sel:
            t = float(times[i]) - start
            img = _camera(tex, scene, t / (end - start), width, height)
            for sh in scene.shapes:
                _draw_shape(img, sh, t, gx, gy)
            out[i] = np.clip(img, 0, 255)
    return out


def overlay_shapes(frames: np.ndarray, seed: int, fps: float) -> None:
    """Paint one scene's moving shapes over ``frames`` (uint8 [T,H,W,3]) in place.

    Photo videos (``media.photos``) borrow the generator's objects in motion, so natural
    backgrounds get the same kind of moving foreground as the procedural ones."""
    height, width = frames.shape[1:3]
    style = _draw_style(np.random.default_rng([seed, 0, 2]))
    scene = _draw_scene(seed, 0, 0.0, len(frames) / fps, style)
    gy, gx = np.meshgrid(
        (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / height, indexing="ij"
    )
    for i in range(len(frames)):
        img = frames[i].astype(np.float32)
        for sh in scene.shapes:
            _draw_shape(img, sh, i / fps, gx, gy)
        frames[i] = np.clip(img, 0, 255)


def write_video(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int | None = 23,
    bit_rate: int | None = None,
    pix_fmt: str = "yuv420p",
    preset: str = "veryfast",
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    subtitles: Sequence[Cue] = (),
    size: tuple[int, int] | None = None,
) -> Path:
    """Encode uint8 RGB frames [T, H, W, 3] (an array, or frames one at a time: a long
    clip need not sit in memory) into a real video file with PyAV, written atomically (a
    file at ``path`` is whole, and reusable by a later run).

    ``size`` (width, height): every frame scaled to it (bicubic), else the frames' size.
    ``bit_rate`` (bits/s) overrides ``crf`` for constant-bitrate re-encodes (the
    low-bitrate copy transform). yuv420p needs even width and height. ``audio`` (mono
    float [samples] in [-1, 1] at ``sample_rate``) adds an AAC sound track; ``subtitles``
    a text subtitle stream (mov_text in MP4, SubRip elsewhere).
    """
    import av

    rest = iter(frames)
    first = next(rest, None)
    if first is None or first.ndim != 3 or first.shape[-1] != 3 or first.dtype != np.uint8:
        got = "no frame" if first is None else f"a frame of {first.dtype} {first.shape}"
        raise ValueError(f"frames must be uint8 [T,H,W,3] with T > 0, got {got}")
    w, h = size if size is not None else (first.shape[1], first.shape[0])
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ValueError(f"yuv420p needs even dimensions, got {w}x{h}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.part{path.suffix}")  # the suffix names the format
    options: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        options["preset"] = preset
        if crf is not None and bit_rate is None:
            options["crf"] = str(crf)
    try:
        with av.open(str(partial), mode="w") as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001),
                                          options=options)  # fmt: skip
            assert isinstance(stream, av.VideoStream)  # add_stream is typed as any stream kind
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            if bit_rate is not None:
                stream.bit_rate = int(bit_rate)
            # Every stream is added before the first packet: the container header lists them.
            sound = _audio_stream(container, sample_rate) if audio is not None else None
            text = _subtitle_stream(container, path.suffix.lower() in (".mp4", ".mov")) \
                if subtitles else None
            for arr in itertools.chain([first], rest):
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                if size is not None:
                    frame = frame.reformat(width=w, height=h, format=pix_fmt,
                                           interpolation="BICUBIC")  # fmt: skip
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if sound is not None and audio is not None:
                _mux_audio(container, sound, audio)
            if text is not None:
                _mux_subtitles(container, text, subtitles)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial.replace(path)


def _audio_stream(container: av.container.OutputContainer, sample_rate: int) -> av.AudioStream:
    import av

    stream = container.add_stream("aac", rate=sample_rate, layout="mono")
    assert isinstance(stream, av.AudioStream)  # add_stream is typed as any stream kind
    return stream


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream,
               audio: np.ndarray) -> None:
    """Encode a mono float signal as AAC, 1024 samples (one AAC frame) at a time."""
    import av

    if audio.ndim != 1:
        raise ValueError(f"audio must be mono [samples], got shape {audio.shape}")
    sample_rate = stream.rate
    signal = np.clip(audio, -1.0, 1.0).astype(np.float32)
    step = 1024  # the AAC frame size
    for start in range(0, len(signal), step):
        frame = av.AudioFrame.from_ndarray(signal[None, start : start + step], format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = sample_rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


_SUBTITLE_TIME_BASE = Fraction(1, 1000)  # cue times in milliseconds


def _subtitle_stream(container: av.container.OutputContainer,
                     mp4: bool) -> av.subtitles.stream.SubtitleStream:
    import av.subtitles.stream

    from vidsearch.media.subtitles import ASS_HEADER

    stream = container.add_stream("mov_text" if mp4 else "subrip")
    assert isinstance(stream, av.subtitles.stream.SubtitleStream)
    stream.codec_context.subtitle_header = ASS_HEADER
    stream.time_base = _SUBTITLE_TIME_BASE
    return stream


def _mux_subtitles(container: av.container.OutputContainer,
                   stream: av.subtitles.stream.SubtitleStream, cues: Sequence[Cue]) -> None:
    """Mux text cues (times in milliseconds)."""
    from av.subtitles.subtitle import SubtitleSet

    for index, cue in enumerate(cues):
        start, end = round(cue.start_s * 1000), round(cue.end_s * 1000)
        event = f"{index},0,Default,,0,0,0,,{cue.text}".encode()
        packet = stream.codec_context.encode_subtitle(
            SubtitleSet.create(text=event, start=0, end=end - start, pts=start)
        )
        packet.stream, packet.time_base = stream, _SUBTITLE_TIME_BASE
        packet.pts = packet.dts = start
        packet.duration = end - start
        container.mux(packet)


def generate_video_file(
    path: str | Path,
    seed: int,
    duration_s: float,
    fps: float = 8.0,
    width: int = 160,
    height: int = 120,
) -> Path:
    """Render a seeded video and write it as H.264 MP4; returns the path."""
    return write_video(path, render_video(seed, duration_s, fps, width, height), fps)
