"""The same file indexed under two ids is reported, and rejected when policy says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.config import VidsearchConfig
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.orchestrator.api import DuplicateContentError
from vidsearch.orchestrator.factory import build_orchestrator


def test_duplicate_file_is_reported_then_rejected(
    starter_repository: Path, corpus: BenchmarkManifest, tmp_path: Path
) -> None:
    config = VidsearchConfig()
    config.inference.model_repository = starter_repository
    config.catalog.path = tmp_path / "catalog"
    path = Path(corpus.references[0].path)
    orchestrator = build_orchestrator(config)
    try:
        assert orchestrator.index_video(path, video_id="first").duplicate_of == ()
        assert orchestrator.index_video(path, video_id="again").duplicate_of == ("first",)
        assert orchestrator.index_video(path, video_id="first").duplicate_of == ("again",)
        other = Path(corpus.references[1].path)
        assert orchestrator.index_video(other, video_id="other").duplicate_of == ()
    finally:
        orchestrator.close()

    config.catalog.duplicate_policy = "reject"
    orchestrator = build_orchestrator(config)
    try:
        with pytest.raises(DuplicateContentError, match="already indexed as again, first"):
            orchestrator.index_video(path, video_id="third")
        assert orchestrator.get_video("third") is None
        assert orchestrator.stats().videos == 3
    finally:
        orchestrator.close()
