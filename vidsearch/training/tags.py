"""Tags of the generated videos (seed 004): a vocabulary, ground truth, titles, narration.

A tag is a short text with the scene facts (``training.facts``) it claims: "red" claims a
red main shape, "red ring" a main shape that is both red and a ring (bound to the same
shape), "striped background" a scene's texture. A video carries a tag when one of its
scenes shows every fact of it on one of its two largest shapes (the shapes its sound
track plays, see ``media.synthetic_audio``). Facts a viewer could not tell (``None``
in the facts) never make a tag true.

The vocabulary (~150 canonical tags and their synonyms) is split three ways:

- ``train``: the only tags training may use as labels or negatives;
- ``hot``: held out, the "hot topics" a live library gains after training: unseen
  compositions ("purple ring" when purple and ring were only seen apart) and unseen
  synonyms ("donut" for ring); a test keeps them disjoint from ``train``;
- ``distractor``: plausible tags that match no generated video ("dog", "sunset"),
  to measure how often a model suggests something that is not there.

Titles are drawn per seed: clean, noisy (typos, filler), wrong (another video's) or
empty; about a third of the videos get a spoken narration, some of them as subtitles too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vidsearch.media.subtitles import Cue
from vidsearch.media.synthetic_audio import generate_video_with_sound
from vidsearch.training.facts import (
    COLOURS,
    MOTIONS,
    SHAPES,
    SIZES,
    TEXTURES,
    SceneFacts,
    ShapeFacts,
    describe_video,
)

Fact = tuple[str, str]  # (field, value), e.g. ("colour", "red"), ("texture", "stripes")
TagKind = Literal["train", "hot", "distractor"]
TitleKind = Literal["clean", "noisy", "wrong", "empty"]
SHAPE_FIELDS = ("shape", "colour", "size", "motion")  # facts bound to one shape
AUDIBLE_FIELDS = frozenset({"shape", "size", "motion"})  # timbre, pitch, rhythm
MAIN_SHAPES = 2  # shapes per scene that tags (and the sound track) describe


@dataclass(frozen=True)
class Tag:
    text: str
    facts: frozenset[Fact]  # empty for a distractor: it matches nothing
    kind: TagKind

    @property
    def audible(self) -> bool:
        """Whether the sound track alone can tell this tag (no colour, no background)."""
        return bool(self.facts) and {f for f, _ in self.facts} <= AUDIBLE_FIELDS


# Canonical words (used in tags, titles and narration) and held-out synonyms.
WORDS: dict[str, dict[str, str]] = {
    "shape": {"disk": "disk", "ellipse": "ellipse", "rect": "rectangle", "ring": "ring",
              "triangle": "triangle", "cross": "cross"},
    "colour": {c: c for c in COLOURS},
    "size": {s: s for s in SIZES},
    "motion": {m: m for m in MOTIONS},
    "texture": dict(zip(TEXTURES, ("wavy", "cloudy", "striped", "checkered", "concentric",
                                   "cellular"), strict=True)),
}
TRAIN_SYNONYMS: dict[Fact, tuple[str, ...]] = {
    ("shape", "disk"): ("circle",), ("shape", "rect"): ("box",), ("shape", "cross"): ("plus",),
    ("colour", "grey"): ("gray",), ("size", "large"): ("big",), ("size", "small"): ("little",),
    ("motion", "spinning"): ("rotating",), ("motion", "hovering"): ("still",),
    ("texture", "stripes"): ("stripy background",), ("texture", "checker"): ("chequered",),
}
# Held-out wording of the captions (``captions.HELD_OUT``): no trained text head has seen
# these words (a test checks), plus colour words no caption uses.
HOT_SYNONYMS: dict[Fact, tuple[str, ...]] = {
    ("shape", "ring"): ("donut",), ("shape", "ellipse"): ("egg shape",),
    ("shape", "triangle"): ("three-sided shape",), ("shape", "disk"): ("disc",),
    ("colour", "red"): ("crimson",), ("colour", "purple"): ("violet",),
    ("colour", "blue"): ("azure",), ("colour", "pink"): ("magenta",),
    ("size", "large"): ("huge",), ("size", "small"): ("tiny",),
    ("motion", "spinning"): ("twirling in place",), ("motion", "moving up"): ("rising",),
    ("motion", "moving down"): ("sinking",), ("motion", "hovering"): ("floating in place",),
    ("texture", "sines"): ("undulating background",), ("texture", "cells"): ("mosaic background",),
}
DISTRACTORS = ("dog", "cat", "sunset", "beach", "city street", "guitar", "piano music",
               "football", "cooking", "car", "crowd", "forest", "snow", "text on screen")


def _word(field: str, value: str) -> str:
    word = WORDS[field][value]
    return f"{word} background" if field == "texture" and " " not in word else word


def _pair_is_hot(a: int, b: int, modulus: int = 5) -> bool:
    """A fixed fifth of each composition grid is held out; every colour, shape, size and
    motion keeps training compositions, so a hot pair joins words seen apart."""
    return (a + 2 * b) % modulus == 0


def _build_vocabulary() -> tuple[Tag, ...]:
    tags: list[Tag] = []
    for field, words in WORDS.items():
        for value in words:
            fact = (field, value)
            tags.append(Tag(_word(field, value), frozenset({fact}), "train"))
            tags += [Tag(s, frozenset({fact}), "train") for s in TRAIN_SYNONYMS.get(fact, ())]
            tags += [Tag(s, frozenset({fact}), "hot") for s in HOT_SYNONYMS.get(fact, ())]
    grids = (("colour", COLOURS, "shape", SHAPES), ("size", SIZES, "shape", SHAPES),
             ("shape", SHAPES, "motion", MOTIONS))
    for field_a, values_a, field_b, values_b in grids:
        for i, a in enumerate(values_a):
            for j, b in enumerate(values_b):
                text = f"{_word(field_a, a)} {_word(field_b, b)}"
                kind: TagKind = "hot" if _pair_is_hot(i, j) else "train"
                tags.append(Tag(text, frozenset({(field_a, a), (field_b, b)}), kind))
    tags += [Tag(d, frozenset(), "distractor") for d in DISTRACTORS]
    texts = [t.text for t in tags]
    assert len(texts) == len(set(texts)), "a tag text names two meanings"
    return tuple(tags)


VOCABULARY: tuple[Tag, ...] = _build_vocabulary()
TRAIN_TAGS: tuple[Tag, ...] = tuple(t for t in VOCABULARY if t.kind == "train")
HOT_TAGS: tuple[Tag, ...] = tuple(t for t in VOCABULARY if t.kind == "hot")
DISTRACTOR_TAGS: tuple[Tag, ...] = tuple(t for t in VOCABULARY if t.kind == "distractor")


def _shape_facts(shape: ShapeFacts) -> set[Fact]:
    values = {"shape": shape.kind, "colour": shape.colour, "size": shape.size,
              "motion": shape.motion}
    return {(f, v) for f, v in values.items() if v is not None}


def tag_matches(tag: Tag, scenes: list[SceneFacts]) -> bool:
    """Whether some scene shows all of ``tag``'s facts (shape facts on one main shape)."""
    if not tag.facts:
        return False
    bound = {f for f in tag.facts if f[0] in SHAPE_FIELDS}
    texture = {v for f, v in tag.facts if f == "texture"}
    for scene in scenes:
        if texture and texture != {scene.texture}:
            continue
        if not bound or any(bound <= _shape_facts(s) for s in scene.shapes[:MAIN_SHAPES]):
            return True
    return False


def video_tags(seed: int, duration_s: float,
               vocabulary: tuple[Tag, ...] = VOCABULARY) -> list[Tag]:
    """The tags of ``vocabulary`` that video ``seed`` carries (ground truth)."""
    scenes = describe_video(seed, duration_s)
    return [t for t in vocabulary if tag_matches(t, scenes)]


def describe_main_shape(scene: SceneFacts) -> str:
    """'large red ring spinning': the stated facts of the scene's most visible shape."""
    if not scene.shapes:
        return ""
    shape = scene.shapes[0]
    words = [shape.size, shape.colour, WORDS["shape"][shape.kind], shape.motion]
    return " ".join(w for w in words if w)


def _clean_title(seed: int, duration_s: float) -> str:
    scenes = describe_video(seed, duration_s)
    longest = max(scenes, key=lambda s: s.end_s - s.start_s)
    background = f"a {_word('texture', longest.texture)}"
    main = describe_main_shape(longest)
    return f"{main} on {background}" if main else background


_FILLER = ("wow", "must see", "HD", "#shorts", "amazing", "part 2", "new", "lol", "4K")


def _add_noise(title: str, rng: np.random.Generator) -> str:
    """Typos (a letter dropped or doubled) in some words, a word dropped, filler added."""
    words = title.split()
    if len(words) > 2 and rng.random() < 0.5:
        del words[int(rng.integers(len(words)))]
    for i, word in enumerate(words):
        if len(word) > 3 and rng.random() < 0.35:
            k = int(rng.integers(1, len(word) - 1))
            dropped, doubled = word[:k] + word[k + 1 :], word[: k + 1] + word[k:]
            words[i] = dropped if rng.random() < 0.5 else doubled
    filler = [str(f) for f in rng.choice(_FILLER, size=int(rng.integers(1, 3)), replace=False)]
    return " ".join(filler[:1] + words + filler[1:])


TITLE_SHARES: dict[TitleKind, float] = {"clean": 0.55, "noisy": 0.2, "wrong": 0.1, "empty": 0.15}


def title_kind(seed: int) -> TitleKind:
    """Which kind of title video ``seed`` gets, drawn once per seed."""
    draw = float(np.random.default_rng([seed, 0, 11]).random())
    edges = np.cumsum(list(TITLE_SHARES.values()))
    kinds: list[TitleKind] = list(TITLE_SHARES)
    return kinds[min(int(np.searchsorted(edges, draw, side="right")), len(kinds) - 1)]


def video_title(seed: int, duration_s: float, kind: TitleKind | None = None) -> str:
    """The title uploaded with video ``seed``: ``kind`` forces one kind (for ablations:
    clean vs corrupted vs missing), None draws the seed's own."""
    kind = kind or title_kind(seed)
    rng = np.random.default_rng([seed, 0, 12])
    if kind == "empty":
        return ""
    if kind == "wrong":  # another video's clean title
        return _clean_title(seed + 1 + int(rng.integers(1, 1000)), duration_s)
    clean = _clean_title(seed, duration_s)
    return clean if kind == "clean" else _add_noise(clean, rng)


NARRATED_SHARE = 0.3
SUBTITLED_SHARE = 0.5  # of the narrated videos


@dataclass(frozen=True)
class Narration:
    text: str
    start_s: float
    subtitled: bool  # also written as a subtitle stream


def video_narration(seed: int, duration_s: float) -> Narration | None:
    """What is said over video ``seed``, if anything: its first scene's main shape."""
    rng = np.random.default_rng([seed, 0, 13])
    if rng.random() >= NARRATED_SHARE:
        return None
    main = describe_main_shape(describe_video(seed, duration_s)[0])
    if not main:
        return None  # nothing in view to talk about
    text = f"here is a {main}"
    return Narration(text, float(rng.uniform(0.2, 1.0)), bool(rng.random() < SUBTITLED_SHARE))


@dataclass(frozen=True)
class TaggedVideo:
    path: Path
    seed: int
    duration_s: float
    title: str
    narration: Narration | None
    tags: tuple[Tag, ...]  # every vocabulary tag it carries (train, hot)


def write_tagged_video(path: str | Path, seed: int, duration_s: float, fps: float = 8.0,
                       width: int = 160, height: int = 120) -> TaggedVideo:
    """Write video ``seed`` with its sound (and narration) as MP4, with its ground truth.

    Narration needs espeak-ng (``make speech``); a narrated seed raises without it."""
    narration = video_narration(seed, duration_s)
    cues: tuple[Cue, ...] = ()
    if narration is not None and narration.subtitled:
        cues = (Cue(narration.start_s, min(duration_s, narration.start_s + 3.0), narration.text),)
    written = generate_video_with_sound(
        path, seed, duration_s, fps, width, height,
        narration=narration.text if narration else None,
        narration_start_s=narration.start_s if narration else 0.0,
        subtitles=cues,
    )
    return TaggedVideo(written, seed, duration_s, video_title(seed, duration_s), narration,
                       tuple(video_tags(seed, duration_s)))
