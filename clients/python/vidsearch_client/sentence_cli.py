"""`search --sentence TEXT` and `search --audio FILE`: the captions of the indexed videos
searched by a typed or a spoken query (kept out of cli.py, which wires it in)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vidsearch_client.client import VideoSearchClient
from vidsearch_client.types import SearchResult

Table = Callable[..., str]


def sentence_table(result: SearchResult, table: Table) -> str:
    stages = ", ".join(f"{k} {v:.3f}s" for k, v in result.stage_seconds.items())
    heard = f"heard: {result.recognized_text!r}\n" if result.recognized_text else ""
    head = (f"{heard}words matched: {', '.join(result.keywords) or '-'}, "
            f"{len(result.hits)} hit(s)" + (f"\nstages: {stages}" if stages else ""))
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        s = hit.sentence
        rows.append([rank, hit.video.video_id, hit.score, s.similarity if s else "",
                     s.vector_rank if s else "", s.keyword_rank if s else "",
                     hit.video.caption])
    headers = ("#", "video_id", "score", "cosine", "vector #", "words #", "caption")
    return head + "\n" + table(headers, rows)


def search_sentences(args: argparse.Namespace, client: VideoSearchClient) -> SearchResult:
    """The search ``--sentence`` or ``--audio`` asks for."""
    options: dict[str, Any] = {"top_k": args.top_k, "candidates": args.candidates}
    if args.sentence is not None:
        return client.search_sentence(args.sentence, **options)
    return client.search_audio(args.audio, **options)
