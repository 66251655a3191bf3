"""Captions for the procedural videos, generated from what is in them (seed 003 data).

The renderer's own scene description (``synthetic._draw_style/_scene_bounds/_draw_scene``)
is read back: per scene the background texture kind, each shape's kind, colour (hue name
of its main colour), size and motion; scenes in order. Several paraphrases per video come
from different templates, word choices and which details are mentioned, so a caption
never has to be the exact training sentence to find its video.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from vidsearch.media import synthetic

TEXTURE_WORDS = {
    "sines": ("wavy", "rippled"), "noise": ("cloudy", "mottled"),
    "stripes": ("striped", "banded"), "checker": ("checkered", "checkerboard"),
    "rings": ("ringed", "concentric-circle"), "cells": ("cellular", "patchwork"),
}
SHAPE_WORDS = {
    "disk": ("disk", "circle"), "ellipse": ("ellipse", "oval"), "rect": ("rectangle", "box"),
    "ring": ("ring", "hoop"), "triangle": ("triangle", "wedge"), "cross": ("cross", "plus sign"),
}
_HUES = ((0.04, "red"), (0.11, "orange"), (0.19, "yellow"), (0.45, "green"), (0.55, "cyan"),
         (0.70, "blue"), (0.80, "purple"), (0.93, "pink"), (1.01, "red"))


@dataclass(frozen=True)
class ShapeFacts:
    kind: str
    colour: str
    size: str
    motion: str


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


def _motion(vx: float, vy: float, spin: float) -> str:
    if max(abs(vx), abs(vy)) < 0.03:
        return "spinning" if abs(spin) > 0.6 else "hovering"
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
        facts = tuple(
            ShapeFacts(s.kind, colour_name(s.colors[0]),
                       "large" if s.size > 0.19 else "small" if s.size < 0.13 else "medium",
                       _motion(s.vel[0], s.vel[1], s.spin)) for s in shapes)
        scenes.append(SceneFacts(start, min(end, duration_s), sc.kind, facts))
    return scenes


def _shape_phrase(s: ShapeFacts, rng: np.random.Generator, motion: bool) -> str:
    noun = SHAPE_WORDS[s.kind][int(rng.integers(2))]
    size = s.size + " " if s.size != "medium" or rng.random() < 0.3 else ""
    text = f"a {size}{s.colour} {noun}"
    return f"{text} {s.motion}" if motion else text


def _scene_phrase(sc: SceneFacts, rng: np.random.Generator, detail: int) -> str:
    tex = TEXTURE_WORDS[sc.texture][int(rng.integers(2))]
    shapes = [_shape_phrase(s, rng, motion=i == 0) for i, s in enumerate(sc.shapes[:detail])]
    body = " and ".join(shapes)
    if rng.random() < 0.5:
        return f"{body} over a {tex} background"
    return f"{body} on a {tex} pattern"


_ORDER = (("first", "then", "finally"), ("at the start", "next", "at the end"),
          ("", "followed by", "and lastly"))


def captions_for(seed: int, duration_s: float, n: int = 5) -> list[str]:
    """``n`` paraphrased captions of one video (deterministic in seed)."""
    scenes = describe_video(seed, duration_s)
    out: list[str] = []
    for k in range(n):
        rng = np.random.default_rng([seed, 3, k])
        words = _ORDER[k % len(_ORDER)]
        detail = 1 + int(rng.integers(2))
        parts = []
        for i, sc in enumerate(scenes[:3]):
            link = words[0] if i == 0 else words[2] if i == len(scenes) - 1 else words[1]
            parts.append(f"{link} {_scene_phrase(sc, rng, detail)}".strip())
        text = ", ".join(parts)
        if k % 2 and len(scenes) > 1:
            text = f"a video with {len(scenes)} scenes: " + text
        out.append(text[0].upper() + text[1:] + ".")
    return out
