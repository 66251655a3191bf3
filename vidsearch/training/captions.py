"""Captions of the generated videos, written from their facts (``training.facts``).

Two wordings that share no phrasing: ``TRAIN`` captions are what the text model learns
from; ``HELD_OUT`` captions (other synonyms, other templates and word orders, plus short
compositional queries such as "a small blue ring then a red box") are only used to
measure it, on videos whose seeds it never saw. Only stated facts are mentioned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vidsearch.training.facts import (
    SceneFacts,
    ShapeFacts,
    colour_name,
    describe_video,
)

__all__ = ["HELD_OUT", "TRAIN", "Wording", "caption_from_facts", "captions_for", "colour_name",
           "describe_video", "held_out_captions"]


@dataclass(frozen=True)
class Wording:
    """Synonyms and templates of one caption style."""

    shapes: dict[str, tuple[str, ...]]
    sizes: dict[str, tuple[str, ...]]
    motions: dict[str, tuple[str, ...]]
    textures: dict[str, tuple[str, ...]]
    scene_templates: tuple[str, ...]  # {shapes}, {texture}
    shape_templates: tuple[str, ...]  # {size} {colour} {noun} {motion}
    orders: tuple[tuple[str, str, str], ...]  # first / middle / last scene links
    intro: str  # "{n}": number of scenes


TRAIN = Wording(
    shapes={"disk": ("disk", "circle"), "ellipse": ("ellipse", "oval"),
            "rect": ("rectangle", "box"), "ring": ("ring", "hoop"),
            "triangle": ("triangle",), "cross": ("cross", "plus sign")},
    sizes={"small": ("small", "little"), "medium": ("medium", "medium-sized"),
           "large": ("large", "big")},
    motions={"moving right": ("moving right", "going right"),
             "moving left": ("moving left", "going left"),
             "moving up": ("moving up", "going up"), "moving down": ("moving down", "going down"),
             "spinning": ("spinning", "rotating"), "hovering": ("hovering", "staying still")},
    textures={"sines": ("wavy", "rippled"), "noise": ("cloudy", "mottled"),
              "stripes": ("striped",), "checker": ("checkered",),
              "rings": ("ringed", "concentric-circle"), "cells": ("cellular", "patchwork")},
    scene_templates=("{shapes} over a {texture} background", "{shapes} on a {texture} pattern"),
    shape_templates=("a {size}{colour} {noun}{motion}",),
    orders=(("first", "then", "finally"), ("at the start", "next", "at the end"),
            ("", "followed by", "and lastly")),
    intro="a video with {n} scenes: ",
)

HELD_OUT = Wording(
    shapes={"disk": ("disc", "round dot"), "ellipse": ("egg shape", "elongated circle"),
            "rect": ("rectangular block", "square block"), "ring": ("donut", "annulus"),
            "triangle": ("triangular shape", "three-sided shape"),
            "cross": ("plus-shaped mark", "x shape")},
    sizes={"small": ("tiny",), "medium": ("mid-sized",), "large": ("huge", "oversized")},
    motions={"moving right": ("drifting to the right", "heading rightwards"),
             "moving left": ("drifting to the left", "heading leftwards"),
             "moving up": ("rising", "climbing"), "moving down": ("sinking", "falling"),
             "spinning": ("twirling in place",), "hovering": ("floating in place",)},
    textures={"sines": ("undulating",), "noise": ("blotchy", "smoky"),
              "stripes": ("streaky", "banded"), "checker": ("chessboard", "checkerboard"),
              "rings": ("bullseye",), "cells": ("mosaic", "tiled")},
    scene_templates=("{shapes} in front of a {texture} backdrop",
                     "{shapes} against a {texture} backdrop"),
    shape_templates=("a {colour} {noun}{size_after}{motion}",),
    orders=(("it opens with", "after that", "it ends with"),
            ("to begin,", "later", "in the end")),
    intro="{n} shots: ",
)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _shape_phrase(s: ShapeFacts, w: Wording, rng: np.random.Generator, motion: bool,
                  size_p: float = 0.7) -> str:
    size = _pick(rng, w.sizes[s.size]) if s.size and rng.random() < size_p else ""
    move = _pick(rng, w.motions[s.motion]) if motion and s.motion else ""
    return _pick(rng, w.shape_templates).format(
        size=f"{size} " if size else "", size_after=f", {size}," if size else "",
        colour=s.colour, noun=_pick(rng, w.shapes[s.kind]),
        motion=f" {move}" if move else "").replace(",,", ",").rstrip(",")


def _scene_phrase(sc: SceneFacts, w: Wording, rng: np.random.Generator, detail: int) -> str:
    shapes = " and ".join(_shape_phrase(s, w, rng, motion=i == 0)
                          for i, s in enumerate(sc.shapes[:detail]))
    return _pick(rng, w.scene_templates).format(shapes=shapes,
                                                texture=_pick(rng, w.textures[sc.texture]))


def caption_from_facts(scenes: list[SceneFacts], w: Wording, rng: np.random.Generator,
                       k: int) -> str:
    """One caption (template set ``k``) of the first three scenes' stated facts."""
    links = w.orders[k % len(w.orders)]
    detail = 1 + int(rng.integers(2))
    parts = []
    for i, sc in enumerate(scenes[:3]):
        link = links[0] if i == 0 else links[2] if i == len(scenes[:3]) - 1 else links[1]
        parts.append(f"{link} {_scene_phrase(sc, w, rng, detail)}".strip())
    text = ", ".join(parts)
    if k % 2 and len(scenes) > 1:
        text = w.intro.format(n=len(scenes)) + text
    return _articles(text[0].upper() + text[1:] + ".")


def _articles(text: str) -> str:
    """"a orange" -> "an orange"."""
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)


def captions_for(seed: int, duration_s: float, n: int = 5,
                 wording: Wording = TRAIN) -> list[str]:
    """``n`` paraphrased captions of one video (deterministic in seed and wording)."""
    scenes = describe_video(seed, duration_s)
    salt = 3 if wording is TRAIN else 4
    return [caption_from_facts(scenes, wording, np.random.default_rng([seed, salt, k]), k)
            for k in range(n)]


def compositional_query(seed: int, duration_s: float, k: int = 0) -> str:
    """A short query naming the main shape of consecutive scenes: "a tiny blue disc then a
    red square block" (no backgrounds, no motion: a different kind of sentence)."""
    scenes = describe_video(seed, duration_s)
    rng = np.random.default_rng([seed, 5, k])
    first = int(rng.integers(max(1, min(2, len(scenes) - 1))))
    picked = scenes[first:first + 2]
    phrases = []
    for sc in picked:
        s = sc.shapes[0]
        size = f"{_pick(rng, HELD_OUT.sizes[s.size])} " if s.size else ""
        phrases.append(f"a {size}{s.colour} {_pick(rng, HELD_OUT.shapes[s.kind])}")
    return _articles(" then ".join(phrases))


def held_out_captions(seed: int, duration_s: float, n: int = 5) -> list[str]:
    """Test captions: ``n - 1`` held-out paraphrases and one compositional query."""
    return [*captions_for(seed, duration_s, n - 1, HELD_OUT), compositional_query(seed,
                                                                                  duration_s)]
