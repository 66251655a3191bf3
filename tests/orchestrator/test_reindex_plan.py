"""Which videos `reindex` re-encodes: another code version, or stale/missing text features
when text search is on; sources that are gone are reported, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidsearch.catalog.base import VideoInfo
from vidsearch.orchestrator.reindex import reindex_catalog


def _info(video_id: str, version: int, text: int, source: str) -> VideoInfo:
    return VideoInfo(video_id, 10.0, version, 10, source=source, text_model_version=text)


def test_reindex_plan(tmp_path: Path) -> None:
    src = tmp_path / "v.mp4"
    src.write_bytes(b"x")
    videos = [
        _info("current", 2, 3, str(src)),
        _info("old_codes", 1, 3, str(src)),
        _info("old_text", 2, 1, str(src)),
        _info("no_text", 2, 0, str(src)),
        _info("uploaded", 1, 3, ""),
        _info("gone", 1, 3, str(tmp_path / "missing.mp4")),
    ]
    calls: list[tuple[str, dict[str, Any]]] = []

    def index(path: Path, **kw: Any) -> None:
        calls.append((kw["video_id"], kw))

    report = reindex_catalog(videos, 2, index, text_target=3, progress=False)
    assert report.reindexed == ["old_codes", "old_text", "no_text"]
    assert report.current == ["current"] and report.missing_source == ["uploaded", "gone"]
    assert all(kw["model_version"] == 2 and kw["source"] == str(src) for _, kw in calls)

    without_text = reindex_catalog(videos, 2, index, progress=False)
    assert without_text.reindexed == ["old_codes"]
    assert without_text.current == ["current", "old_text", "no_text"]
