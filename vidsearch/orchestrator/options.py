"""Request options -> resolved options: configured defaults filled in, impossible values
refused with a message naming the field and its range (INVALID_ARGUMENT upstream).

One place for both searches, so the service layer and the orchestrator never disagree
on what a valid request is (a property test checks the service side against this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from vidsearch.catalog.base import VideoFilter
from vidsearch.config import SearchConfig, TextSearchConfig
from vidsearch.orchestrator.api import InvalidRequestError, SearchOptions, TextSearchOptions
from vidsearch.orchestrator.query_views import view_names
from vidsearch.orchestrator.stages import ResolvedOptions

T = TypeVar("T")


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


def resolve_search_options(
    options: SearchOptions, defaults: SearchConfig, timeout_s: float | None = None
) -> ResolvedOptions:
    """SearchByVideo options."""
    resolved = ResolvedOptions(
        mode=options.mode or defaults.mode,
        top_k=_pick(options.top_k, defaults.top_k),
        max_hamming=_pick(options.max_hamming, defaults.max_hamming),
        coarse_limit=_pick(options.coarse_limit, defaults.coarse_limit),
        keyframe_limit=defaults.keyframe_limit,
        max_texture_distance=(
            options.max_texture_distance
            if options.max_texture_distance is not None
            else defaults.max_texture_distance
        ),
        min_repetition=_pick(options.min_repetition, defaults.min_repetition),
        model_version=options.model_version,
        only=options.only,
        timeout_s=timeout_s,
        alignment=defaults.alignment,
        rerank_candidates=defaults.rerank_candidates,
        normalise=defaults.normalise,
        normalise_k=defaults.normalise_k,
        query_views=view_names(defaults.query_views),
        view_penalty=defaults.view_penalty,
        motion_weight=defaults.motion_weight,
        min_similarity=defaults.min_similarity,
        raw_min_similarity=defaults.raw_min_similarity,
        min_score=defaults.min_score,
        raw_min_score=defaults.raw_min_score,
    )
    if resolved.mode not in ("texture", "duration", "keyframe"):
        raise InvalidRequestError(
            f"mode must be texture, duration or keyframe, not {resolved.mode!r}", field="mode"
        )
    if not 1 <= resolved.top_k <= 1000:
        raise InvalidRequestError(f"top_k must be between 1 and 1000, got {resolved.top_k}",
                                  field="top_k")
    if not 0 <= resolved.max_hamming <= 128:
        raise InvalidRequestError(
            f"max_hamming must be between 0 and 128 bits, got {resolved.max_hamming}",
            field="max_hamming",
        )
    if not 1 <= resolved.coarse_limit <= 100_000:
        raise InvalidRequestError(
            f"coarse_limit must be between 1 and 100000, got {resolved.coarse_limit}",
            field="coarse_limit",
        )
    if resolved.max_texture_distance is not None and not resolved.max_texture_distance >= 0:
        raise InvalidRequestError("max_texture_distance must be a non-negative number",
                                  field="max_texture_distance")
    if not 0.0 <= resolved.min_repetition <= 1.0:
        raise InvalidRequestError(
            f"min_repetition must be between 0 and 1, got {resolved.min_repetition}",
            field="min_repetition",
        )
    _check_version(resolved.model_version)
    return resolved


@dataclass(frozen=True)
class ResolvedTextOptions:
    text: str  # whitespace collapsed
    top_k: int
    candidates: int
    rerank: bool
    keywords: bool
    model_version: int | None
    timeout_s: float | None
    only: VideoFilter | None = None


def clean_query_text(text: str, max_chars: int) -> str:
    """A typed query (SearchByText, SearchBySentence), whitespace collapsed; refused when
    empty, too long or holding control characters."""
    query = " ".join(text.split())
    if not query:
        raise InvalidRequestError(
            "text must hold at least one word, e.g. 'a red circle moves left'", field="text"
        )
    if len(text) > max_chars:
        raise InvalidRequestError(
            f"text has {len(text)} characters; at most {max_chars} are accepted", field="text"
        )
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text) or "\x7f" in text:
        raise InvalidRequestError("text must not contain control characters", field="text")
    return query


def check_top_k(top_k: int, candidates: int) -> None:
    """Both in 1..1000 (SearchBySentence, SearchByAudio)."""
    for name, value in (("top_k", top_k), ("candidates", candidates)):
        if not 1 <= value <= 1000:
            raise InvalidRequestError(f"{name} must be between 1 and 1000, got {value}",
                                      field=name)


def resolve_text_options(
    text: str, options: TextSearchOptions, config: TextSearchConfig, timeout_s: float | None
) -> ResolvedTextOptions:
    """SearchByText options and the query text itself."""
    query = clean_query_text(text, config.max_query_chars)
    resolved = ResolvedTextOptions(
        text=query,
        top_k=_pick(options.top_k, config.top_k),
        candidates=_pick(options.candidates, config.candidates),
        rerank=_pick(options.rerank, config.rerank),
        keywords=_pick(options.keywords, config.keywords),
        model_version=options.model_version,
        timeout_s=timeout_s,
        only=options.only,
    )
    if not 1 <= resolved.top_k <= 1000:
        raise InvalidRequestError(f"top_k must be between 1 and 1000, got {resolved.top_k}",
                                  field="top_k")
    if not 1 <= resolved.candidates <= 1000:
        raise InvalidRequestError(
            f"candidates must be between 1 and 1000, got {resolved.candidates}",
            field="candidates",
        )
    _check_version(resolved.model_version)
    return resolved


def _check_version(version: int | None) -> None:
    if version is not None and version < 1:
        raise InvalidRequestError("model_version must be a positive integer",
                                  field="model_version")
