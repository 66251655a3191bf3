"""SearchBySentence: a typed (or recognised, ``spoken_query``) query against the
generated sentences of the indexed videos.

Two rankings, one query batch (``catalog.sentences``): the videos whose caption sentence
vectors are nearest the query's (served MiniLM, cosine), and the videos whose captions
hold the query's words (Qdrant full-text index), ordered by how many of the words they
hold, then by cosine. They are fused by reciprocal rank (Cormack et al., SIGIR 2009):
``score = sum over the rankings of 1 / (k + rank)``. Ranks, not scores, because a cosine
and a count of matched words are on scales no weight would keep comparable from one
query to the next; RRF needs no calibration, a video both rankings place high wins,
and a video only one of them found still counts. ``k`` (``captions.fusion_k``, 60 as in
the paper and in Qdrant's own RRF) damps the difference between the first few ranks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vidsearch.catalog.base import Catalog, SentenceCandidate, VideoFilter
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import SentenceHit
from vidsearch.orchestrator.captions import sentence_vector
from vidsearch.orchestrator.pipeline import Stage
from vidsearch.orchestrator.text_search import TextModels

# Words too common in captions to say anything (matched as words, never as meaning).
STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "with", "by", "over",
    "then", "next", "first", "finally", "lastly", "last", "is", "are", "it", "its",
    "this", "that", "shape", "coloured", "video", "clip", "scene", "scenes", "footage",
    "background", "followed", "moving", "going", "start", "starting", "end", "ending",
    "initially", "afterwards", "part", "parts", "form", "pattern", "texture"))
_WORD = re.compile(r"[^\W_]+")  # Qdrant's word tokenizer: runs of letters and digits


def caption_words(text: str) -> list[str]:
    """Words as the full-text index sees them: lower case, split at anything else."""
    return _WORD.findall(text.lower())


def query_words(text: str, limit: int = 16) -> tuple[str, ...]:
    """The words of a query a caption is matched on: distinct, stopwords (and the
    captions' structure words, numbers of scenes) left out."""
    kept = (w for w in caption_words(text) if w not in STOPWORDS and not w.isdigit())
    return tuple(dict.fromkeys(kept))[:limit]


def keyword_ranking(found: Sequence[SentenceCandidate], words: Sequence[str]
                    ) -> list[tuple[SentenceCandidate, tuple[str, ...]]]:
    """The captions holding query words, most words first, then by cosine (stable)."""
    kept = []
    for cand in found:
        held = set(caption_words(cand.info.caption))
        matched = tuple(w for w in words if w in held)
        if matched:
            kept.append((cand, matched))
    return sorted(kept, key=lambda cm: (-len(cm[1]), -cm[0].similarity))


def fuse(by_vector: Sequence[SentenceCandidate], by_words: Sequence[SentenceCandidate],
         words: Sequence[str], *, k: float, top_k: int) -> list[SentenceHit]:
    """Reciprocal-rank fusion of the two rankings (see the module doc), best first; ties
    go to the nearer sentence vector, then the video id."""
    ranked = keyword_ranking(by_words, words)
    keyword_rank = {c.info.video_id: r for r, (c, _) in enumerate(ranked, start=1)}
    matched = {c.info.video_id: m for c, m in ranked}
    vector_rank = {c.info.video_id: r for r, c in enumerate(by_vector, start=1)}
    everyone = {c.info.video_id: c for c in [*by_words, *by_vector]}
    hits = []
    for video_id, cand in everyone.items():
        ranks = (vector_rank.get(video_id, 0), keyword_rank.get(video_id, 0))
        score = sum(1.0 / (k + r) for r in ranks if r)
        hits.append(SentenceHit(cand.info, score, cand.similarity, *ranks,
                                matched_words=matched.get(video_id, ())))
    hits.sort(key=lambda h: (-h.score, -h.similarity, h.video.video_id))
    return hits[:top_k]


@dataclass
class SentenceSearchContext:
    """One sentence query (typed, or recognised from speech), and what the stages make."""

    text: str
    top_k: int
    candidates: int
    fusion_k: float
    version: int  # of the text encoder
    only: VideoFilter | None = None
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    vector: np.ndarray | None = None
    words: tuple[str, ...] = ()
    hits: list[SentenceHit] = field(default_factory=list)


class SentenceEncodeStage:
    """The query's sentence vector (served MiniLM) and its words."""

    name = "sentence_encode"
    resource = "encode"

    def __init__(self, text: TextModels) -> None:
        self._text = text

    def __call__(self, ctx: SentenceSearchContext) -> None:
        ctx.vector = sentence_vector(self._text, ctx.text, ctx.version, ctx.budget.remaining())
        ctx.words = query_words(ctx.text)


class SentenceRankStage:
    """Both rankings from the catalog, fused."""

    name = "sentence_search"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SentenceSearchContext) -> None:
        if ctx.vector is None:
            raise RuntimeError("pipeline misconfigured: sentence_encode must run first")
        by_vector, by_words = self._catalog.search_sentences(
            ctx.vector, ctx.words, limit=max(ctx.top_k, ctx.candidates),
            vector_version=ctx.version, budget=ctx.budget, only=ctx.only)
        ctx.hits = fuse(by_vector, by_words, ctx.words, k=ctx.fusion_k, top_k=ctx.top_k)


def sentence_stages(text: TextModels, catalog: Catalog) -> list[Stage[SentenceSearchContext]]:
    return [SentenceEncodeStage(text), SentenceRankStage(catalog)]
