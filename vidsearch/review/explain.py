"""Search results as the page's JSON: each hit with the reasons behind its score.

Reviewers decide from the evidence, so every number the API returns for a hit is put in
words (what it measures, which way is better). Server paths (``VideoInfo.source``) never
leave this module.
"""

from __future__ import annotations

from typing import Any

from vidsearch_client import SearchHit, SearchResult, VideoInfo

HASH_BITS = 128


def video_json(video: VideoInfo) -> dict[str, Any]:
    """What the page shows of a video: never its ``source`` (a path on the server)."""
    return {
        "video_id": video.video_id,
        "title": video.title,
        "tags": list(video.tags),
        "duration_s": video.duration_s,
    }


def copy_reasons(hit: SearchHit, mode: str | None, query_duration_s: float) -> list[str]:
    """Why a SearchByVideo hit scored what it did, one sentence per number."""
    reasons: list[str] = []
    if mode == "texture":
        reasons.append(
            f"score {hit.score:.3f} = 1 / (1 + texture distance {hit.texture_distance:.3f}): "
            "near-duplicate search ranks whole videos by texture distance"
        )
    else:
        shorter = min(query_duration_s, hit.video.duration_s)
        reasons.append(
            f"repetition {hit.repetition:.2f}: the matched segments cover "
            f"{hit.repetition * shorter:.1f} s of the shorter video ({shorter:.1f} s)"
        )
        if hit.segments:
            best = max(segment.score for segment in hit.segments)
            reasons.append(
                f"{len(hit.segments)} matched segment(s); score {hit.score:.3f} = repetition x "
                f"alignment similarity (best segment {best:.2f}: aligned seconds of evidence, "
                "weighted by margin)"
            )
        else:
            reasons.append(f"score {hit.score:.3f} = repetition x alignment similarity")
    reasons.append(
        f"Hamming distance {hit.hamming} of {HASH_BITS} hash bits between the nearest codes "
        "(the coarse filter; 0 = identical codes)"
    )
    if mode != "texture":
        reasons.append(f"texture distance {hit.texture_distance:.3f} (lower is closer)")
    return reasons


def text_reasons(hit: SearchHit) -> list[str]:
    """Why a SearchByText hit scored what it did."""
    match = hit.text
    if match is None:
        return [f"score {hit.score:.3f}"]
    stage1 = f"stage 1 embedding similarity {match.embedding_similarity:.3f} (cosine)"
    if not match.rescored:
        return [f"score {hit.score:.3f} = {stage1}; not rescored by stage 2"]
    return [
        f"score {match.score:.3f} = fine {match.fine:.3f} + coarse {match.coarse:.3f} "
        "(stage 2: the text-conditioned rescoring)",
        f"fine: enhanced local text against adaptive-weighted frames; coarse: "
        f"text-conditioned video feature against the whole text; {stage1}",
    ]


def result_json(result: SearchResult, *, text: bool) -> dict[str, Any]:
    """The page's view of a SearchByVideo or SearchByText answer."""
    hits = []
    for hit in result.hits:
        hits.append({
            "video": video_json(hit.video),
            "score": hit.score,
            "hamming": hit.hamming,
            "texture_distance": hit.texture_distance,
            "repetition": hit.repetition,
            "segments": [
                {"query_start_s": s.query_start_s, "query_end_s": s.query_end_s,
                 "reference_start_s": s.reference_start_s,
                 "reference_end_s": s.reference_end_s, "score": s.score}
                for s in hit.segments
            ],
            "reasons": text_reasons(hit) if text else copy_reasons(
                hit, result.mode, result.query_duration_s),
        })  # fmt: skip
    return {
        "hits": hits,
        "mode": result.mode,
        "query_duration_s": result.query_duration_s,
        "model_version": result.model_version,
        "keywords": list(result.keywords),
    }
