"""Training-only caption augmentation for the text-search heads.

Measured (BENCHMARKS.md, "Text → video"): the heads read the TRAIN wording's own words
rather than what MiniLM says they mean; on the test videos, TRAIN templates with the
held-out texture or shape synonyms alone cost 20-30 points of R@1. So the heads also train
on ``EXTRA``: every TRAIN synonym and template plus further synonyms, scene templates,
scene links and intros that are still not HELD_OUT wording (no word shares a stem with a
held-out phrase; a test checks), and on captions with words dropped, so that no single
word or phrasing carries a fact. The captioner and the tag vocabulary keep reading TRAIN.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from vidsearch.training.captions import (
    TRAIN,
    Wording,
    caption_from_facts,
    captions_for,
    describe_video,
)


def _more(base: dict[str, tuple[str, ...]], extra: dict[str, tuple[str, ...]]
          ) -> dict[str, tuple[str, ...]]:
    return {k: base[k] + extra.get(k, ()) for k in base}


EXTRA: Wording = replace(
    TRAIN,
    shapes=_more(TRAIN.shapes, {
        "disk": ("filled circle", "round blob", "spot", "coin", "orb", "round patch"),
        "ellipse": ("elliptical shape", "squashed circle", "oval blob", "elliptic form",
                    "stretched oval"),
        "rect": ("quadrilateral", "rectangular panel", "plank", "oblong slab", "card"),
        "ring": ("open circle", "hollow disk", "round frame", "halo", "circle outline"),
        "triangle": ("triangular figure", "delta shape", "arrowhead", "tent shape"),
        "cross": ("plus", "crosshair", "crossed bars", "plus figure")}),
    sizes=_more(TRAIN.sizes, {
        "small": ("petite", "diminutive", "modest", "pint-sized"),
        "medium": ("intermediate", "moderate", "middling", "normal-sized"),
        "large": ("jumbo", "hefty", "bulky", "large-sized", "vast")}),
    motions=_more(TRAIN.motions, {
        "moving right": ("shifting right", "travelling right"),
        "moving left": ("shifting left", "travelling left"),
        "moving up": ("gliding upwards", "lifting up"),
        "moving down": ("gliding downwards", "dropping down"),
        "spinning": ("rotating around", "turning round"),
        "hovering": ("at rest", "keeping still")}),
    textures=_more(TRAIN.textures, {
        "sines": ("sinusoidal", "wave-like", "curvy-lined", "ripple-patterned"),
        "noise": ("foggy", "misty", "noisy", "dappled", "murky", "cloud-like"),
        "stripes": ("barred", "ruled", "pinstripe", "zebra-striped", "parallel-lined"),
        "checker": ("plaid", "gingham", "squared", "tartan", "crisscross", "lattice"),
        "rings": ("concentric", "target-patterned", "radial-ring", "ripple-ringed"),
        "cells": ("voronoi", "cobblestone", "crackled", "tessellated", "segmented",
                  "crazy-paving")}),
    scene_templates=(
        *TRAIN.scene_templates, "{shapes} set on a {texture} surface",
        "{shapes}, {texture} background", "{texture} surroundings with {shapes}",
        "{shapes} seen over a {texture} pattern",
        "{shapes} and behind them a {texture} background"),
    orders=(*TRAIN.orders, ("we first see", "then we see", "and at last"),
            ("the clip starts on", "subsequently", "and concludes with"),
            ("", "after this", "and to finish")),
    intros=(*TRAIN.intros, "{n} segments: ", "a {n}-scene video: ", "montage of {n} scenes: "),
)


def drop_words(caption: str, p: float, rng: np.random.Generator) -> str:
    """Each word dropped with probability ``p`` (at least one kept)."""
    words = caption.split()
    kept = [w for w in words if rng.random() >= p] or words[:1]
    return " ".join(kept)


def augmented_captions(seed: int, duration_s: float, n: int, drop_p: float = 0.0
                       ) -> list[str]:
    """``n`` training captions of one video in the EXTRA wording, ``drop_p`` of the words
    dropped (deterministic in the seed; salted apart from ``captions_for``)."""
    scenes = describe_video(seed, duration_s)
    out = []
    for k in range(n):
        rng = np.random.default_rng([seed, 7, k])
        text = caption_from_facts(scenes, EXTRA, rng, k)
        out.append(drop_words(text, drop_p, rng) if drop_p > 0 else text)
    return out


def dropped_captions(seed: int, duration_s: float, n: int, p: float) -> list[str]:
    """The first ``n`` TRAIN captions of one video with ``p`` of their words dropped."""
    rng = np.random.default_rng([seed, 8])
    return [drop_words(c, p, rng) for c in captions_for(seed, duration_s, n)]


def stems(text: str, n: int = 5) -> set[str]:
    """Lower-case word stems (first ``n`` letters) of a phrase: what disjointness compares."""
    return {w[:n] for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}
