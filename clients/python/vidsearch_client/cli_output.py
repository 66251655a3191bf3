"""What the command line prints: tables for people, JSON for scripts (``--json``), messages
and errors on stderr so that stdout stays parseable."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from vidsearch_client.errors import VidsearchError
from vidsearch_client.types import SearchResult, VideoInfo, to_jsonable


def error_json(exc: BaseException) -> dict[str, Any]:
    """A failure as JSON: the gRPC status name (None for a local error), message, request id."""
    if isinstance(exc, VidsearchError):
        return {"code": exc.code.name, "message": exc.message, "request_id": exc.request_id}
    return {"code": None, "message": str(exc), "request_id": None}


def info(args: argparse.Namespace, message: str) -> None:
    """A message for people (never stdout, so ``--json`` output stays parseable)."""
    if not args.quiet:
        print(message, file=sys.stderr)


def show_progress(args: argparse.Namespace, steps: int) -> bool:
    """A progress bar only for a person watching: stderr is a terminal, no --json/--quiet."""
    return steps > 1 and not (args.json or args.quiet) and sys.stderr.isatty()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def emit(args: argparse.Namespace, data: Any, as_text: Callable[[], str]) -> None:
    """``data`` as JSON with ``--json``, else ``as_text()`` (a table, a line) for people."""
    print(json.dumps(to_jsonable(data), indent=2) if args.json else as_text())


def video_rows(videos: Sequence[VideoInfo]) -> list[list[Any]]:
    return [[v.video_id, v.duration_s, v.keyframe_count, v.model_version, v.title] for v in videos]


VIDEO_HEADERS = ("video_id", "duration_s", "keyframes", "model", "title")


def search_table(result: SearchResult) -> str:
    stages = ", ".join(f"{k} {v:.3f}s" for k, v in result.stage_seconds.items())
    head = (
        f"query {result.query_duration_s:.1f}s, model v{result.model_version}, "
        f"mode {result.mode}, {len(result.hits)} hit(s)" + (f"\nstages: {stages}" if stages else "")
    )
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        best = max(hit.segments, key=lambda s: s.score, default=None)
        where = (
            f"{best.query_start_s:.1f}-{best.query_end_s:.1f}s @ "
            f"{best.reference_start_s:.1f}-{best.reference_end_s:.1f}s"
            if best
            else ""
        )
        rows.append(
            [rank, hit.video.video_id, hit.score, hit.hamming, hit.texture_distance,
             hit.repetition, where, hit.video.title]
        )  # fmt: skip
    headers = ("#", "video_id", "score", "hamming", "texture", "repetition", "best match", "title")
    return head + "\n" + table(headers, rows)


def text_table(result: SearchResult) -> str:
    stages = ", ".join(f"{k} {v:.3f}s" for k, v in result.stage_seconds.items())
    head = (
        f"text model v{result.model_version}, keywords: {', '.join(result.keywords) or '-'}, "
        f"{len(result.hits)} hit(s)" + (f"\nstages: {stages}" if stages else "")
    )
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        t = hit.text
        rows.append(
            [rank, hit.video.video_id, hit.score, t.embedding_similarity if t else "",
             ("yes" if t.rescored else "no") if t else "", t.fine if t and t.rescored else "",
             t.coarse if t and t.rescored else "", hit.video.title]
        )  # fmt: skip
    headers = ("#", "video_id", "score", "stage 1", "rescored", "fine", "coarse", "title")
    return head + "\n" + table(headers, rows)


def sentence_table(result: SearchResult) -> str:
    stages = ", ".join(f"{k} {v:.3f}s" for k, v in result.stage_seconds.items())
    heard = f"heard: {result.recognized_text!r}\n" if result.recognized_text else ""
    head = (
        f"{heard}words matched: {', '.join(result.keywords) or '-'}, "
        f"{len(result.hits)} hit(s)" + (f"\nstages: {stages}" if stages else "")
    )
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        s = hit.sentence
        rows.append(
            [
                rank,
                hit.video.video_id,
                hit.score,
                s.similarity if s else "",
                s.vector_rank if s else "",
                s.keyword_rank if s else "",
                hit.video.caption,
            ]
        )
    headers = ("#", "video_id", "score", "cosine", "vector #", "words #", "caption")
    return head + "\n" + table(headers, rows)
