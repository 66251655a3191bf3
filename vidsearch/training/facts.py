"""What is in a generated video, read back from the renderer: the facts captions state.

The renderer (``media.synthetic``) draws every scene from a seed, so each scene's
background texture and each shape's kind, colour, size and motion are known exactly.
A fact is only *stated* when a viewer could tell it from the frames: a radius near a
size boundary, a drift slower than the shape's wobble or a direction between two axes
has no label (``None``), and a shape that is mostly out of frame or hidden behind
another one is not mentioned at all. Shapes rank by how much of them is in view, not by
their drawn radius (a thin ring looks smaller than a disk of the same radius, and a big
shape drifting off the edge is not "the largest" a viewer sees). Captions mention stated
facts only, the semantic encoder is trained and scored on them, and text search can
therefore be held to them.
"""

from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import dataclass, replace

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
    shapes: tuple[ShapeFacts, ...]  # the shapes in view, most visible first (may be none)


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


SEEN = 0.5  # share of a shape that must be in view, on average over its scene, to state it
_VIEW_ROWS = 48  # resolution of the visibility maps (rows per frame height)
_ASPECT = 4 / 3  # the generated videos' frame aspect (media.synthetic renders 160x120)


def _shape_facts(s: synthetic._Shape) -> ShapeFacts:
    return ShapeFacts(s.kind, colour_name(s.colors[0]), size_word(s.size),
                      motion_word(s.vel, s.wobble, s.spin))


def _view_grid(rows: int, aspect: float = _ASPECT) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (y, x) in frame heights, as the renderer draws them."""
    cols = round(rows * aspect)
    gy, gx = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / rows,
                         indexing="ij")
    return gy, gx


def _index_map(shapes: tuple[synthetic._Shape, ...], t: float, gy: np.ndarray,
               gx: np.ndarray) -> np.ndarray:
    """Which shape (1 + its draw index; 0 = background) is on top at each pixel at time t."""
    img = np.zeros((*gy.shape, 3), dtype=np.float32)
    for k, s in enumerate(shapes):
        synthetic._draw_shape(img, replace(s, colors=np.full((2, 3), k + 1, np.float32)), t,
                              gx, gy)
    out: np.ndarray = img[..., 0].astype(np.int64)
    return out


def _whole_areas(shapes: tuple[synthetic._Shape, ...], gy: np.ndarray,
                 gx: np.ndarray) -> np.ndarray:
    """Pixels each shape covers when nothing hides it (drawn alone at the frame centre)."""
    centred = [replace(s, pos0=(0.5, 0.5), vel=(0.0, 0.0), wobble=(0.0, 0.0, 0.0))
               for s in shapes]
    return np.maximum([np.count_nonzero(_index_map((s,), 0.0, gy, gx)) for s in centred], 1)


def _shown(shapes: tuple[synthetic._Shape, ...], t: float, gy: np.ndarray,
           gx: np.ndarray) -> np.ndarray:
    """Pixels of each shape a viewer sees at scene time t."""
    out: np.ndarray = np.bincount(_index_map(shapes, t, gy, gx).ravel(),
                                  minlength=len(shapes) + 1)[1:]
    return out


def visibility(shapes: tuple[synthetic._Shape, ...], start: float, end: float,
               duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per shape, averaged over the scene's 1-fps frames: the share of it a viewer sees and
    its visible area (map pixels). Outside the frame or under a later-drawn shape is hidden."""
    gy, gx = _view_grid(_VIEW_ROWS)
    times = np.arange(math.ceil(start), min(end, duration_s)) - start
    area = sum((_shown(shapes, float(t), gy, gx) for t in times),
               start=np.zeros(len(shapes))) / max(len(times), 1)
    return area / _whole_areas(shapes, gy, gx), area


def _stated_order(shapes: tuple[synthetic._Shape, ...], start: float, end: float,
                  duration_s: float) -> list[int]:
    """Draw indices of the shapes a viewer sees (>= SEEN in view), most visible first."""
    share, area = visibility(shapes, start, end, duration_s)
    return [int(k) for k in np.argsort(-area, kind="stable") if share[k] >= SEEN]


@dataclass(frozen=True)
class _Scene:
    start_s: float
    end_s: float
    texture: str
    shapes: tuple[synthetic._Shape, ...]  # the renderer's, in draw order
    stated: tuple[int, ...]  # draw indices of the shapes a viewer sees, most visible first


@functools.lru_cache(maxsize=8192)
def _scenes(seed: int, duration_s: float) -> tuple[_Scene, ...]:
    """Every scene of video ``seed`` drawn once, with the shapes a viewer sees (the
    visibility pass renders the whole scene, so its result is kept for every caller)."""
    style = synthetic._draw_style(np.random.default_rng([seed, 0, 2]))
    out = []
    for idx, (start, end) in enumerate(synthetic._scene_bounds(seed, duration_s)):
        sc = synthetic._draw_scene(seed, idx, start, end, style)
        out.append(_Scene(start, end, sc.kind, sc.shapes,
                          tuple(_stated_order(sc.shapes, start, end, duration_s))))
    return tuple(out)


def stated_shapes(seed: int, duration_s: float) -> tuple[tuple[synthetic._Shape, ...], ...]:
    """Per scene of video ``seed``: the renderer's shapes a viewer sees, most visible first."""
    return tuple(tuple(sc.shapes[k] for k in sc.stated) for sc in _scenes(seed, duration_s))


@functools.lru_cache(maxsize=8192)
def _described(seed: int, duration_s: float) -> tuple[SceneFacts, ...]:
    return tuple(SceneFacts(sc.start_s, min(sc.end_s, duration_s), sc.texture,
                            tuple(_shape_facts(sc.shapes[k]) for k in sc.stated))
                 for sc in _scenes(seed, duration_s))


def describe_video(seed: int, duration_s: float) -> list[SceneFacts]:
    """What a viewer sees in video ``seed`` (first ``duration_s`` seconds)."""
    return list(_described(seed, duration_s))


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
    main = scene.shapes[0] if scene.shapes else None
    second = scene.shapes[1] if len(scene.shapes) > 1 else None
    facts = (main.kind, main.colour, main.size, main.motion) if main else (None,) * 4
    values = (scene.texture, *facts,
              second.kind if second else "none", second.colour if second else "none")
    return [vocab.index(v) if v is not None else IGNORE
            for (_, vocab), v in zip(HEADS, values, strict=True)]


IN_FRAME = 0.25  # share of a stated shape a single frame must show to be labelled with it
_MAIN_COLUMNS, _SECOND_COLUMNS = [1, 2, 3, 4], [5, 6]  # HEADS of the first and second shape


def frame_labels(seed: int, duration_s: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels [T, heads] of the frames at ``times`` (s) and each frame's scene index [T].

    A frame carries its scene's facts, except a stated shape's facts where that frame shows
    less than IN_FRAME of it (it has not come in yet, or has drifted out)."""
    scenes = describe_video(seed, duration_s)
    scene_of = _scene_of(scenes, times)
    table = np.array([scene_labels(s) for s in scenes], dtype=np.int64)
    labels = table[scene_of]
    gy, gx = _view_grid(_VIEW_ROWS)
    for idx, sc in enumerate(_scenes(seed, duration_s)):
        sel = np.nonzero(scene_of == idx)[0]
        if len(sel) == 0:
            continue
        whole = _whole_areas(sc.shapes, gy, gx)
        for i in sel:
            share = _shown(sc.shapes, float(times[i]) - sc.start_s, gy, gx) / whole
            for k, columns in zip(sc.stated[:2], (_MAIN_COLUMNS, _SECOND_COLUMNS),
                                  strict=False):
                if share[k] < IN_FRAME:
                    labels[i, columns] = IGNORE
    return labels, scene_of


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


def _cell_table(shapes: tuple[synthetic._Shape, ...]) -> np.ndarray:
    """1 + draw index (0 = background) -> [kind, colour, size, motion]."""
    none = [len(SHAPES), len(COLOURS), IGNORE, IGNORE]
    rows = [none]
    for f in map(_shape_facts, shapes):
        rows.append([SHAPES.index(f.kind), COLOURS.index(f.colour),
                     SIZES.index(f.size) if f.size else IGNORE,
                     MOTIONS.index(f.motion) if f.motion else IGNORE])
    return np.array(rows, dtype=np.int64)


UNSTATED_RANK = -1  # rank column of a shape the scene's facts do not mention


def cell_labels(seed: int, duration_s: float, times: np.ndarray, grid: int,
                aspect: float = _ASPECT) -> np.ndarray:
    """Per-cell facts [T, grid, grid, 4 + 1] of the frames at ``times`` (squashed to a
    square model input, so the grid spans the whole frame whatever its aspect): the
    topmost shape at each cell's centre, whether or not the scene's facts mention it. The
    last column is the shape's rank among the scene's stated shapes (0 = background,
    1 = most visible, UNSTATED_RANK = in view here but not stated for the scene)."""
    scenes = describe_video(seed, duration_s)
    h = 6 * grid  # index map resolution: fine enough to sample each cell's centre
    gy, gx = _view_grid(h, aspect)
    rows = ((np.arange(grid) + 0.5) / grid * h).astype(np.int64)
    cols = ((np.arange(grid) + 0.5) / grid * gy.shape[1]).astype(np.int64)
    out = np.empty((len(times), grid, grid, len(CELL_FACTS) + 1), dtype=np.int64)
    scene_of = _scene_of(scenes, times)
    for idx, sc in enumerate(_scenes(seed, duration_s)):
        sel = np.nonzero(scene_of == idx)[0]
        if len(sel) == 0:
            continue
        rank = np.full(len(sc.shapes) + 1, UNSTATED_RANK, dtype=np.int64)
        rank[0] = 0
        for r, k in enumerate(sc.stated):
            rank[k + 1] = r + 1
        table = _cell_table(sc.shapes)
        for i in sel:
            index = _index_map(sc.shapes, float(times[i]) - sc.start_s, gy, gx)[rows][:, cols]
            out[i, ..., :-1] = table[index]
            out[i, ..., -1] = rank[index]
    return out
