"""Move a catalog to another model version by re-indexing each video from its source.

Codes of two versions live in different spaces, so they are never compared: a catalog
moves to a new model by re-encoding every video whose codes came from another version,
from the source recorded at index time. Uploaded videos have no source readable by the
server: they are reported, to be uploaded again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsearch.catalog.base import VideoInfo


@dataclass
class ReindexReport:
    model_version: int
    reindexed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    missing_source: list[str] = field(default_factory=list)


def is_current(info: VideoInfo, target: int, text_target: int | None = None,
               caption_target: int | None = None) -> bool:
    """Whether ``info`` was indexed with the versions indexing writes now (``text_target``:
    the served text models' version when text search is on; ``caption_target``: the
    captioner's when captions are on)."""
    text_current = text_target is None or info.text_model_version == text_target
    caption_current = caption_target is None or info.caption_model_version == caption_target
    return info.model_version == target and text_current and caption_current


def plan_reindex(
    videos: Iterable[VideoInfo], target: int, *, text_target: int | None = None,
    caption_target: int | None = None,
) -> tuple[ReindexReport, list[VideoInfo]]:
    """(report with the current videos and those without a readable source, the videos to
    re-index from their source)."""
    report = ReindexReport(model_version=target)
    todo: list[VideoInfo] = []
    for info in videos:
        if is_current(info, target, text_target, caption_target):
            report.current.append(info.video_id)
        elif not info.source or not Path(info.source).is_file():
            report.missing_source.append(info.video_id)
        else:
            todo.append(info)
    return report, todo


def reindex_catalog(
    videos: Iterable[VideoInfo],
    target: int,
    index_video: Callable[..., Any],
    *,
    text_target: int | None = None,
    caption_target: int | None = None,
    progress: bool = True,
) -> ReindexReport:
    """``index_video`` is the orchestrator's (same decode/encode/commit path as IndexVideo).

    ``text_target``: the served text models' version when text search is on; a video whose
    text features came from another version (or that has none) is re-indexed too, else
    text searches, which only compare same-version features, would never find it; so is
    one whose caption came from another captioner version than ``caption_target``."""
    from tqdm import tqdm

    report, todo = plan_reindex(videos, target, text_target=text_target,
                                caption_target=caption_target)
    for info in tqdm(todo, desc="re-index", disable=not progress):
        index_video(
            Path(info.source),
            video_id=info.video_id,
            title=info.title,
            tags=info.tags,
            source=info.source,
            model_version=target,
        )
        report.reindexed.append(info.video_id)
    return report
