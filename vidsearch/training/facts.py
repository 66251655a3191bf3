"""What is in a generated video, read back from the renderer: the facts captions state.

The renderer (``media.synthetic``) draws every scene from a seed, so each scene's
background texture and each shape's kind, colour, size and motion are known exactly.
A fact is only *stated* when a viewer could tell it from the frames: a radius near a
size boundary, a drift slower than the shape's wobble or a direction between two axes
has no label (``None``). Captions mention stated facts only, the semantic encoder is
trained and scored on them, and text search can therefore be held to them.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from vidsearch.media import synthetic

TEXTURES = ("sines", "noise", "stripes", "checker", "rings", "cells")
SHAPES = ("disk", "ellipse", "rect", "ring", "triangle", "cross")
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink",
           "black", "grey", "white")
SIZES = ("small", "medium", "large")
MOTIONS = ("moving right", "moving left", "moving up", "moving down", "spinning", "hovering")
MIRRORED_MOTION = {"moving right": "moving left", "moving left": "moving right"}
_HUES = ((0.04, "red"), (0.11, "orange"), (0.19, "yellow"), (0.45, "green"), (0.55, "cyan"),
         (0.70, "blue"), (0.80, "purple"), (0.93, "pink"), (1.01, "red"))


@dataclass(frozen=True)
class ShapeFacts:
    kind: str
    colour: str
    size: str | None  # None: too close to a size boundary to say
    motion: str | None  # None: no clear direction


@dataclass(frozen=True)
class SceneFacts:
    start_s: float
    end_s: float
    texture: str
    shapes: tuple[ShapeFacts, ...]  # largest first


def colour_name(rgb: np.ndarray) -> str:
    """RGB in [0,255] -> a basic colour word (dark/greyish colours get their own words)."""
    r, g, b = (float(x) / 255.0 for x in rgb[:3])
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if v < 0.25:
        return "black"
    if s < 0.2:
        return "white" if v > 0.8 else "grey"
    return next(name for bound, name in _HUES if h < bound)


def size_word(radius: float) -> str | None:
    """Radius in frame heights -> small/medium/large, or None in the margins between them."""
    if radius < 0.12:
        return "small"
    if 0.14 <= radius <= 0.18:
        return "medium"
    if radius > 0.20:
        return "large"
    return None


def motion_word(vel: tuple[float, float], wobble: tuple[float, float, float],
                spin: float) -> str | None:
    """Drift (frame heights per second) -> a direction when it clearly dominates.

    A direction needs a drift faster than the shape's wobble and one axis at least 1.5x
    the other; "hovering"/"spinning" need almost no drift and a small wobble."""
    vx, vy = vel
    wobble_speed = wobble[0] * wobble[1]
    fast, slow = max(abs(vx), abs(vy)), min(abs(vx), abs(vy))
    if fast < 0.02:
        if wobble_speed > 0.05:
            return None
        return "spinning" if abs(spin) > 0.7 else "hovering" if abs(spin) < 0.4 else None
    if fast < 0.045 or fast < 1.5 * slow or math.hypot(vx, vy) < wobble_speed:
        return None
    if abs(vx) >= abs(vy):
        return "moving right" if vx > 0 else "moving left"
    return "moving down" if vy > 0 else "moving up"


def describe_video(seed: int, duration_s: float) -> list[SceneFacts]:
    """What the renderer puts in video ``seed`` (first ``duration_s`` seconds)."""
    style = synthetic._draw_style(np.random.default_rng([seed, 0, 2]))
    scenes = []
    for idx, (start, end) in enumerate(synthetic._scene_bounds(seed, duration_s)):
        sc = synthetic._draw_scene(seed, idx, start, end, style)
        shapes = sorted(sc.shapes, key=lambda s: -s.size)
        facts = tuple(ShapeFacts(s.kind, colour_name(s.colors[0]), size_word(s.size),
                                 motion_word(s.vel, s.wobble, s.spin)) for s in shapes)
        scenes.append(SceneFacts(start, min(end, duration_s), sc.kind, facts))
    return scenes


# Fact heads of the semantic encoder: (name, vocabulary). "second_*" is the second-largest
# shape (captions mention up to two per scene); its "none" class means there is none.
HEADS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("texture", TEXTURES), ("shape", SHAPES), ("colour", COLOURS), ("size", SIZES),
    ("motion", MOTIONS), ("second_shape", (*SHAPES, "none")),
    ("second_colour", (*COLOURS, "none")),
)
IGNORE = -100  # label of a fact that is not stated (cross-entropy ignore_index)


def scene_labels(scene: SceneFacts) -> list[int]:
    """One scene -> a label per head (IGNORE where the fact is not stated)."""
    main = scene.shapes[0]
    second = scene.shapes[1] if len(scene.shapes) > 1 else None
    values = (scene.texture, main.kind, main.colour, main.size, main.motion,
              second.kind if second else "none", second.colour if second else "none")
    return [vocab.index(v) if v is not None else IGNORE
            for (_, vocab), v in zip(HEADS, values, strict=True)]


def frame_labels(seed: int, duration_s: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels [T, heads] of the frames at ``times`` (s) and each frame's scene index [T]."""
    scenes = describe_video(seed, duration_s)
    scene_of = _scene_of(scenes, times)
    table = np.array([scene_labels(s) for s in scenes], dtype=np.int64)
    return table[scene_of], scene_of


def _scene_of(scenes: list[SceneFacts], times: np.ndarray) -> np.ndarray:
    """Index of the scene showing each time (s)."""
    starts = np.array([s.start_s for s in scenes])
    out: np.ndarray = np.clip(np.searchsorted(starts, times, side="right") - 1, 0,
                              len(scenes) - 1)
    return out


# Dense facts: what covers each cell of a grid over the frame (the topmost shape at the
# cell's centre). Per-cell supervision teaches the encoder to find shapes locally, which a
# "largest shape" label alone teaches slowly.
CELL_FACTS = ("shape", "colour", "size", "motion")  # vocabularies as in HEADS; +1 "none"


def _cell_table(scene: SceneFacts) -> np.ndarray:
    """Rank (0 = background, k = k-th largest shape) -> [kind, colour, size, motion]."""
    none = [len(SHAPES), len(COLOURS), IGNORE, IGNORE]
    rows = [none] + [[SHAPES.index(s.kind), COLOURS.index(s.colour),
                      SIZES.index(s.size) if s.size else IGNORE,
                      MOTIONS.index(s.motion) if s.motion else IGNORE] for s in scene.shapes]
    return np.array(rows, dtype=np.int64)


def cell_labels(seed: int, duration_s: float, times: np.ndarray, grid: int,
                aspect: float = 4 / 3) -> np.ndarray:
    """Per-cell facts [T, grid, grid, 4 + 1] of the frames at ``times`` (squashed to a
    square model input, so the grid spans the whole frame whatever its aspect); the last
    column is the shape's size rank in its scene (0 = background, 1 = largest)."""
    from dataclasses import replace

    scenes = describe_video(seed, duration_s)
    style = synthetic._draw_style(np.random.default_rng([seed, 0, 2]))
    h = 6 * grid  # index map resolution: fine enough to sample each cell's centre
    w = round(h * aspect)
    gy, gx = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / h, indexing="ij")
    rows = ((np.arange(grid) + 0.5) / grid * h).astype(np.int64)
    cols = ((np.arange(grid) + 0.5) / grid * w).astype(np.int64)
    out = np.empty((len(times), grid, grid, len(CELL_FACTS) + 1), dtype=np.int64)
    scene_of = _scene_of(scenes, times)
    for idx, (start, end) in enumerate(synthetic._scene_bounds(seed, duration_s)):
        sel = np.nonzero(scene_of == idx)[0]
        if len(sel) == 0:
            continue
        raw = synthetic._draw_scene(seed, idx, start, end, style).shapes
        rank = {id(s): r + 1 for r, s in enumerate(sorted(raw, key=lambda s: -s.size))}
        marked = [replace(s, colors=np.full((2, 3), rank[id(s)], np.float32)) for s in raw]
        table = _cell_table(scenes[idx])
        for i in sel:
            img = np.zeros((h, w, 3), dtype=np.float32)
            for s in marked:
                synthetic._draw_shape(img, s, float(times[i]) - start, gx, gy)
            ranks = img[rows][:, cols, 0].astype(np.int64)
            out[i, ..., :-1] = table[ranks]
            out[i, ..., -1] = ranks
    return out
