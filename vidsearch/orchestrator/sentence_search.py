"""SearchBySentence: a typed (or recognised, ``spoken_query``) query against the
generated sentences of the indexed videos.

Two rankings, one query batch (``catalog.sentences``): the videos whose caption sentence
vectors are nearest the query's (served MiniLM, cosine), and the videos whose captions
hold the query's words (Qdrant full-text index). Words are matched as the facts they name:
the captioner's synonym groups (``synonyms.json``, exported beside its vocabulary; a search
engine's synonym filter) turn "giant", "big" and "large" into one term, so a caption that
says "a big hoop" matches a query for "a large ring". The keyword ranking scores a
caption by the query's terms it names plus the pairs of neighbouring query terms it also
names side by side ("red" next to "ring": which colour goes with which shape), then by
cosine; on the validation videos the pairs lifted the first hit from 45% to 57%. A query
reads the same typed or recognised: counts in words become digits and a hyphen matches a
space ("four scenes ... wave patterned" as "4 scenes ... wave-patterned"); before that, a
perfectly recognised query lost a twentieth of the typed one's R@5. Words the captions
never use are read as their phrases by the text encoder's thesaurus (``orchestrator.wording``),
as text search reads them.

Fusion (``captions.fusion``): ``keywords`` (default) puts the keyword ranking first, by
matched terms, the sentence vector breaking ties and ranking the videos that match no
term; ``rrf`` is reciprocal-rank fusion (Cormack et al., SIGIR 2009), ``sum 1 / (k +
rank)`` over both rankings, ``k`` = ``captions.fusion_k``. Two captions of one video
share few words and little of MiniLM's geometry (the wording varies), but they name the
same facts: on 200 validation videos with a true caption stored and another one asked,
the first hit was right for 45% of the queries by matched terms (cosine breaking ties)
against 29% by RRF of the same two rankings and 13% by cosine alone (BENCHMARKS.md
"Sentence and spoken-query retrieval" measures both fusions on the test videos).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

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
_SEPARATORS = re.compile(r"[-\s]+")  # "wave-patterned" and "wave patterned" name one fact
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER = re.compile(rf"\b(?:({'|'.join(_TENS)})(?:[\s-]({'|'.join(_UNITS[1:10])}))?"
                     rf"|({'|'.join(_UNITS)}))\b", re.IGNORECASE)


def caption_words(text: str) -> list[str]:
    """Words as the full-text index sees them: lower case, split at anything else."""
    return _WORD.findall(text.lower())


def numbers_as_digits(text: str) -> str:
    """Counts spelled out as digits ("five scenes" -> "5 scenes"): captions write them in
    digits, a speech recogniser in words, and a count should not move a query's vector."""

    def digits(m: re.Match[str]) -> str:
        if m[3]:
            return str(_UNITS.index(m[3].lower()))
        return str(20 + 10 * _TENS.index(m[1].lower()) + (_UNITS.index(m[2].lower())
                                                          if m[2] else 0))

    return _NUMBER.sub(digits, text)


def query_words(text: str, limit: int = 16) -> tuple[str, ...]:
    """The words of a query a caption is matched on: distinct, stopwords (and the
    captions' structure words, numbers of scenes) left out."""
    kept = (w for w in caption_words(text) if w not in STOPWORDS and not w.isdigit())
    return tuple(dict.fromkeys(kept))[:limit]


@dataclass(frozen=True)
class Synonyms:
    """Synonym groups, {term: phrases}: each phrase of a group names its term."""

    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def _term_of(self) -> dict[str, str]:
        return {_joined(p): term for term, phrases in self.groups.items() for p in phrases}

    @cached_property
    def _phrases(self) -> re.Pattern[str] | None:
        if not self._term_of:
            return None
        longest = sorted(self._term_of, key=len, reverse=True)
        return re.compile(r"(?<![^\W_])(" + "|".join(map(re.escape, longest)) + r")(?![^\W_])")

    def terms(self, text: str, limit: int = 16) -> dict[str, str]:
        """The facts ``text`` names, {term: the words that named it}, in order: a phrase of a
        group names its term (longest first, hyphens as spaces: a recogniser hears no
        hyphen), any other word (``query_words``) itself."""
        lowered, start = _joined(text), 0
        out: dict[str, str] = {}
        found = [] if self._phrases is None else list(self._phrases.finditer(lowered))
        for m in [*found, None]:
            for word in query_words(lowered[start:m.start() if m else None], limit):
                out.setdefault(word, word)
            if m:
                out.setdefault(self._term_of[m.group(1)], m.group(1))
                start = m.end()
        return dict(list(out.items())[:limit])

    def words(self, terms: Mapping[str, str], limit: int = 64) -> tuple[str, ...]:
        """Words a caption naming any of ``terms`` holds (every phrase of their groups):
        what the full-text index is asked for."""
        out: dict[str, None] = {}
        for term in terms:
            for phrase in self.groups.get(term, (term,)):
                out.update(dict.fromkeys(query_words(phrase)))
        return tuple(out)[:limit]


def _joined(text: str) -> str:
    return _SEPARATORS.sub(" ", text.lower())


def term_pairs(terms: Sequence[str]) -> set[frozenset[str]]:
    """Neighbouring terms, either order ("red" beside "ring"): which facts go together, so
    a red ring and a blue box are told from a blue ring and a red box."""
    return {frozenset(p) for p in itertools.pairwise(terms) if p[0] != p[1]}


@dataclass(frozen=True)
class KeywordMatch:
    """A caption naming query terms: the query's words it matched, and its score (terms
    named + neighbouring pairs of them the caption also has side by side)."""

    candidate: SentenceCandidate
    matched: tuple[str, ...]
    score: int


def keyword_ranking(found: Sequence[SentenceCandidate], terms: Mapping[str, str],
                    synonyms: Synonyms = Synonyms()) -> list[KeywordMatch]:
    """The captions naming query terms, highest score first, then by cosine (stable)."""
    pairs, kept = term_pairs(list(terms)), []
    for cand in found:
        held = synonyms.terms(cand.info.caption, limit=10_000)
        matched = tuple(said for term, said in terms.items() if term in held)
        if matched:
            together = len(pairs & term_pairs(list(held)))
            kept.append(KeywordMatch(cand, matched, len(matched) + together))
    return sorted(kept, key=lambda k: (-k.score, -k.candidate.similarity))


Fusion = Literal["keywords", "rrf"]


def fuse(by_vector: Sequence[SentenceCandidate], by_words: Sequence[SentenceCandidate],
         terms: Mapping[str, str], *, k: float, top_k: int, synonyms: Synonyms = Synonyms(),
         fusion: Fusion = "rrf") -> list[SentenceHit]:
    """The two rankings fused (see the module doc), best first; ties go to the nearer
    sentence vector, then the video id. ``keywords``: score = the keyword score (terms and
    pairs of them matched) + a share below one that grows with the cosine; ``rrf``: the
    reciprocal-rank sum."""
    keyword = {m.candidate.info.video_id: (rank, m) for rank, m in
               enumerate(keyword_ranking(by_words, terms, synonyms), start=1)}
    vector_rank = {c.info.video_id: r for r, c in enumerate(by_vector, start=1)}
    everyone = {c.info.video_id: c for c in [*by_words, *by_vector]}
    hits = []
    for video_id, cand in everyone.items():
        keyword_rank, match = keyword.get(video_id, (0, None))
        ranks = (vector_rank.get(video_id, 0), keyword_rank)
        if fusion == "keywords":
            score = (match.score if match else 0) + 0.999 * (1.0 + cand.similarity) / 2.0
        else:
            score = sum(1.0 / (k + r) for r in ranks if r)
        hits.append(SentenceHit(cand.info, score, cand.similarity, *ranks,
                                matched_words=match.matched if match else ()))
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
    synonyms: Synonyms = field(default_factory=Synonyms)  # the served captioner's
    fusion: Fusion = "keywords"
    vector: np.ndarray | None = None
    terms: dict[str, str] = field(default_factory=dict)
    hits: list[SentenceHit] = field(default_factory=list)

    @property
    def words(self) -> tuple[str, ...]:
        """What the query is matched on, as it said it (each term's words)."""
        return tuple(self.terms.values())


class SentenceEncodeStage:
    """The query's sentence vector (served MiniLM) and its words."""

    name = "sentence_encode"
    resource = "encode"

    def __init__(self, text: TextModels) -> None:
        self._text = text

    def __call__(self, ctx: SentenceSearchContext) -> None:
        # held-out words as the training captions' phrases ("huge" as "big"), as text
        # search reads them: the captioner wrote its sentences in the same wording
        text = self._text.query_text(numbers_as_digits(ctx.text), ctx.version)
        ctx.vector = sentence_vector(self._text, text, ctx.version, ctx.budget.remaining())
        ctx.terms = ctx.synonyms.terms(text)


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
            ctx.vector, ctx.synonyms.words(ctx.terms), limit=max(ctx.top_k, ctx.candidates),
            vector_version=ctx.version, budget=ctx.budget, only=ctx.only)
        ctx.hits = fuse(by_vector, by_words, ctx.terms, k=ctx.fusion_k, top_k=ctx.top_k,
                        synonyms=ctx.synonyms, fusion=ctx.fusion)


def sentence_stages(text: TextModels, catalog: Catalog) -> list[Stage[SentenceSearchContext]]:
    return [SentenceEncodeStage(text), SentenceRankStage(catalog)]
