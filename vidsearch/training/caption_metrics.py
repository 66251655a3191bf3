"""Caption quality: BLEU-4, ROUGE-L, CIDEr-D (+ METEOR with Java) and fact accuracy.

Language metrics come from ``pycocoevalcap`` (the COCO caption evaluation code; its
``Cider`` is CIDEr-D: clipped n-gram counts and a length penalty). With Java on the PATH
the sentences go through its Stanford PTB tokenizer and METEOR 1.5 is scored too (both
jars ship in the wheel; nothing is downloaded; SPICE, which downloads CoreNLP models, is
never run); without Java they are lower-cased and split on whitespace, punctuation
dropped, and METEOR is left out (``tokenizer`` in the result says which).

Fact accuracy reads the sentence back into facts: scenes are the comma-separated parts
(and the "then"-joined parts of a short query), the shapes of a scene are its "and a ..."
phrases, and each shape's colour, kind, size and motion are the TRAIN wording's words
for them (``training.captions``). The k-th shape of the j-th part is checked against the
renderer's k-th stated shape of scene j (``training.facts``): a fact about a shape or a
scene the video does not have is wrong; a size or motion the renderer leaves unstated
(too close to call) is not scored. ``coverage`` is the share of the first three scenes'
main shapes the sentence names.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidsearch.training.caption_data import tokenize
from vidsearch.training.captions import TRAIN
from vidsearch.training.facts import COLOURS, SceneFacts, ShapeFacts, describe_video

FIELDS = ("colour", "shape", "size", "motion")
_SCENES_TOLD = 3  # captions describe the first three scenes
_SHORT_LINKS = {("then",), ("followed", "by"), ("and", "then"), ("and", "next")}


def _phrases(table: dict[str, tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    return {tuple(p.split()): fact for fact, words in table.items() for p in words}


_LEXICON: dict[str, dict[tuple[str, ...], str]] = {
    "shape": _phrases(TRAIN.shapes),
    "size": _phrases(TRAIN.sizes),
    "motion": _phrases(TRAIN.motions),
    "colour": _phrases({c: (c, f"{c}-coloured") for c in COLOURS}),
}
_LONGEST = max(len(p) for table in _LEXICON.values() for p in table)


@dataclass(frozen=True)
class Mention:
    """The facts a sentence states about one shape (None: not stated)."""

    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None


def _split(words: list[str], at: set[tuple[str, ...]]) -> list[list[str]]:
    parts: list[list[str]] = []
    cur: list[str] = []
    i = 0
    while i < len(words):
        hit = next((p for p in at if tuple(words[i:i + len(p)]) == p), None)
        if hit:
            parts.append(cur)
            cur, i = [], i + len(hit)
        else:
            cur.append(words[i])
            i += 1
    return [p for p in [*parts, cur] if p]


def _mention(words: list[str]) -> Mention | None:
    found: dict[str, str] = {}
    i = 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            key = tuple(words[i:i + n])
            field = next((f for f in FIELDS if key in _LEXICON[f]), None)
            if field:
                found.setdefault(field, _LEXICON[field][key])
                i += n
                break
        else:
            i += 1
    return Mention(**found) if "shape" in found else None


def parse_sentence(sentence: str) -> list[list[Mention]]:
    """A caption -> per scene part, the shapes it names (in order)."""
    words = tokenize(sentence)
    if ":" in words:  # "a video with 3 scenes: ..."
        words = words[words.index(":") + 1:]
    scenes = []
    for part in _split(words, {(",",)}):
        for piece in _split(part, _SHORT_LINKS):
            shapes = _split(piece, {("and", "a"), ("and", "an")})
            scenes.append([m for m in map(_mention, shapes) if m is not None])
    return scenes


def _truth(shape: ShapeFacts | None, field: str) -> str | None:
    if shape is None:
        return None
    return {"colour": shape.colour, "shape": shape.kind, "size": shape.size,
            "motion": shape.motion}[field]


def score_facts(sentence: str, scenes: Sequence[SceneFacts]) -> dict[str, tuple[int, int]]:
    """(correct, scored) per field, and (named, present) main shapes as ``coverage``."""
    told = scenes[:_SCENES_TOLD]
    parsed = parse_sentence(sentence)
    out = {f: (0, 0) for f in FIELDS}
    for j, mentions in enumerate(parsed):
        for k, m in enumerate(mentions):
            truth = told[j].shapes[k] if j < len(told) and k < len(told[j].shapes) else None
            for f in FIELDS:
                said = getattr(m, f)
                if said is None or (truth is not None and _truth(truth, f) is None):
                    continue
                ok, n = out[f]
                out[f] = (ok + int(said == _truth(truth, f)), n + 1)
    present = [j for j, sc in enumerate(told) if sc.shapes]
    named = sum(1 for j in present if j < len(parsed) and parsed[j])
    out["coverage"] = (named, len(present))
    return out


def fact_accuracy(sentences: Sequence[str], seeds: Sequence[int],
                  duration_s: float) -> dict[str, float]:
    """Share of stated facts that are right, per field, over a set of videos."""
    totals: dict[str, list[int]] = {}
    for sentence, seed in zip(sentences, seeds, strict=True):
        for f, (ok, n) in score_facts(sentence, describe_video(seed, duration_s)).items():
            t = totals.setdefault(f, [0, 0])
            t[0] += ok
            t[1] += n
    return {f"fact_{f}": round(ok / n, 4) if n else 0.0 for f, (ok, n) in totals.items()}


def _tokenized(texts: dict[int, list[str]], java: bool) -> dict[int, list[str]]:
    if java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        out: dict[int, list[str]] = PTBTokenizer().tokenize(
            {k: [{"caption": t} for t in v] for k, v in texts.items()})
        return out
    return {k: [" ".join(w for w in tokenize(t) if w not in {",", ":"}) for t in v]
            for k, v in texts.items()}


def language_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                     *, meteor: bool = True) -> dict[str, Any]:
    """Corpus BLEU-1..4, ROUGE-L, CIDEr-D (and METEOR when Java runs) of one sentence per
    video against that video's references."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    java = shutil.which("java") is not None
    res = _tokenized({i: [h] for i, h in enumerate(hypotheses)}, java)
    gts = _tokenized({i: list(r) for i, r in enumerate(references)}, java)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out: dict[str, Any] = {f"bleu{n + 1}": round(float(b), 4) for n, b in enumerate(bleu)}
    out["rouge_l"] = round(float(Rouge().compute_score(gts, res)[0]), 4)
    out["cider_d"] = round(float(Cider().compute_score(gts, res)[0]), 4)
    if java and meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()  # a java subprocess, ended when the scorer is collected
        out["meteor"] = round(float(scorer.compute_score(gts, res)[0]), 4)
        del scorer
    out["tokenizer"] = "ptb (java)" if java else "whitespace (no java; no meteor)"
    return out
