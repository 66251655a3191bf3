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

from vidsearch.contract.thesaurus import Vocabulary
from vidsearch.training.facts import (
    COLOURS,
    SceneFacts,
    ShapeFacts,
    colour_name,
    describe_video,
)

__all__ = ["HELD_OUT", "TRAIN", "Wording", "caption_from_facts", "captions_for", "colour_name",
           "describe_video", "held_out_captions", "synonym_groups", "training_vocabulary"]


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
    intros: tuple[str, ...]  # "{n}": number of scenes
    empty_scene: str  # {texture}: a scene where no shape is in view long enough to mention
    # Training only: captions that leave facts out (the texture, motions, later scenes)
    # and short queries naming a few main shapes, the way people type searches.
    varied: bool = False
    short_links: tuple[str, ...] = ()


# Many synonyms and sentence shapes, so the text heads learn what a word means rather than
# which training word it was; none of them is a HELD_OUT phrase (a test checks).
TRAIN = Wording(
    shapes={"disk": ("disk", "circle", "dot", "round shape", "ball", "circular shape"),
            "ellipse": ("ellipse", "oval", "oval shape", "stretched circle",
                        "flattened circle", "oblong"),
            "rect": ("rectangle", "box", "square", "rectangular shape", "slab", "brick"),
            "ring": ("ring", "hoop", "loop", "hollow circle", "circular outline"),
            "triangle": ("triangle", "wedge", "pyramid", "triangular form"),
            "cross": ("cross", "plus sign", "plus symbol", "cross mark", "cross shape")},
    sizes={"small": ("small", "little", "smallish", "compact", "miniature"),
           "medium": ("medium", "medium-sized", "average-sized", "moderately sized",
                      "regular-sized"),
           "large": ("large", "big", "giant", "enormous", "massive", "gigantic", "sizeable")},
    motions={"moving right": ("moving right", "going right", "sliding right",
                              "travelling to the right", "moving to the right"),
             "moving left": ("moving left", "going left", "sliding left",
                             "travelling to the left", "moving to the left"),
             "moving up": ("moving up", "going up", "ascending", "moving upwards",
                           "going upward"),
             "moving down": ("moving down", "going down", "descending", "dropping",
                             "moving downwards"),
             "spinning": ("spinning", "rotating", "turning", "whirling", "revolving"),
             "hovering": ("hovering", "staying still", "motionless", "stationary",
                          "standing still", "not moving")},
    textures={"sines": ("wavy", "rippled", "wave-patterned", "rippling"),
              "noise": ("cloudy", "mottled", "hazy", "grainy", "speckled"),
              "stripes": ("striped", "lined", "stripy", "pinstriped"),
              "checker": ("checkered", "chequered", "checked", "grid-patterned"),
              "rings": ("ringed", "concentric-circle", "concentric-ring", "circled"),
              "cells": ("cellular", "patchwork", "cell-patterned", "honeycomb-like",
                        "stained-glass")},
    scene_templates=("{shapes} over a {texture} background", "{shapes} on a {texture} pattern",
                     "{shapes} with a {texture} background", "a {texture} background with "
                     "{shapes}", "{shapes} in a {texture} scene", "{shapes} on {texture} "
                     "texture", "{shapes} over {texture} wallpaper"),
    shape_templates=("a {size}{colour} {noun}{motion}", "a {size}{noun} in {colour}{motion}",
                     "a {size}{colour}-coloured {noun}{motion}",
                     "a {size}{noun} coloured {colour}{motion}"),
    orders=(("first", "then", "finally"), ("at the start", "next", "at the end"),
            ("", "followed by", "and lastly"), ("initially", "afterwards", "lastly"),
            ("in the first scene", "in the next scene", "in the last scene"),
            ("", "and then", "and finally"), ("starting with", "then", "ending with")),
    intros=("a video with {n} scenes: ", "{n} scenes: ", "a clip in {n} parts: ",
            "footage of {n} scenes: "),
    empty_scene="an empty {texture} background",
    varied=True,
    short_links=(" then ", " followed by ", " and then ", ", then ", " and next "),
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
    intros=("{n} shots: ",),
    empty_scene="only a {texture} backdrop",
)


def synonym_groups(wording: Wording = TRAIN) -> dict[str, list[str]]:
    """{term: phrases}: every phrase this wording uses for one fact (a shape kind, size,
    motion or background texture) under one term, a word no caption holds (the field and
    the fact's key run together). Exported with the captioner, whose sentences use these
    phrases, so SearchBySentence matches facts rather than words."""
    return {re.sub(r"[^a-z0-9]", "", f"{name[:-1]}{fact}"): list(phrases)
            for name in ("shapes", "sizes", "motions", "textures")
            for fact, phrases in getattr(wording, name).items()}


def training_vocabulary(wording: Wording = TRAIN) -> Vocabulary:
    """What the text model was trained on, for the thesaurus that rewrites a query's unseen
    words: every word of the wording's phrases and templates is kept, and a rewrite lands
    on one of its fact phrases or colours ("huge" -> "big", "rising" -> "going up")."""
    phrases = [p for name in ("shapes", "sizes", "motions", "textures")
               for options in getattr(wording, name).values() for p in options]
    templates = [*wording.scene_templates, *wording.shape_templates, *wording.intros,
                 wording.empty_scene, *wording.short_links,
                 *(link for links in wording.orders for link in links)]
    return Vocabulary.of([*phrases, *COLOURS], [re.sub(r"\{\w+\}", " ", t) for t in templates])


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
    if not sc.shapes:
        return w.empty_scene.format(texture=_pick(rng, w.textures[sc.texture]))
    shapes = " and ".join(_shape_phrase(s, w, rng, motion=i == 0)
                          for i, s in enumerate(sc.shapes[:detail]))
    if w.varied and rng.random() < 0.2:
        return shapes  # the background left out
    return _pick(rng, w.scene_templates).format(shapes=shapes,
                                                texture=_pick(rng, w.textures[sc.texture]))


def caption_from_facts(scenes: list[SceneFacts], w: Wording, rng: np.random.Generator,
                       k: int) -> str:
    """One caption (template set ``k``) of the first three scenes' stated facts."""
    if w.varied and rng.random() < 0.25 and any(sc.shapes for sc in scenes):
        return _short_query(scenes, w, rng)
    links = w.orders[k % len(w.orders)]
    detail = 1 + int(rng.integers(2))
    told = scenes[:3]
    if w.varied and len(told) > 1 and rng.random() < 0.3:
        told = told[:1 + int(rng.integers(len(told) - 1))]  # only the first scene(s)
    parts = []
    for i, sc in enumerate(told):
        link = links[0] if i == 0 else links[2] if i == len(told) - 1 else links[1]
        parts.append(f"{link} {_scene_phrase(sc, w, rng, detail)}".strip())
    text = ", ".join(parts)
    if k % 2 and len(scenes) > 1:
        text = _pick(rng, w.intros).format(n=len(scenes)) + text
    return _articles(text[0].upper() + text[1:] + ".")


def _short_query(scenes: list[SceneFacts], w: Wording, rng: np.random.Generator) -> str:
    """The main shape of one to three consecutive scenes: "a big red box then a green dot"."""
    scenes = [sc for sc in scenes if sc.shapes]
    n = 1 + int(rng.integers(min(3, len(scenes))))
    first = int(rng.integers(min(3, len(scenes)) - n + 1))
    phrases = [_shape_phrase(sc.shapes[0], w, rng, motion=rng.random() < 0.3)
               for sc in scenes[first:first + n]]
    return _articles(_pick(rng, w.short_links).join(phrases))


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
    described = describe_video(seed, duration_s)
    scenes = [sc for sc in described if sc.shapes]
    rng = np.random.default_rng([seed, 5, k])
    if not scenes:  # nothing in view long enough to name
        return HELD_OUT.empty_scene.format(texture=_pick(rng, HELD_OUT.textures[
            described[0].texture]))
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
