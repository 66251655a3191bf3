"""Index compatibility across model versions: codes of v1 are never compared with a v2
query (clear error), and `vidsearch reindex` moves the catalog to v2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from vidsearch.catalog.base import IncompatibleModelError
from vidsearch.cli import main
from vidsearch.config import VidsearchConfig
from vidsearch.evaluation.systems import export_release
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.orchestrator.api import SearchOptions
from vidsearch.orchestrator.factory import build_orchestrator

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"


def test_version_refusal_then_reindex_cli(
    starter_repository: Path, corpus: BenchmarkManifest, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(starter_repository, repository)  # holds version 1
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.path = tmp_path / "catalog"
    refs = corpus.references[:3]
    query = Path(corpus.references[0].path)

    orchestrator = build_orchestrator(config)
    try:
        for ref in refs:
            orchestrator.index_video(
                Path(ref.path), video_id=ref.video_id, source=ref.path.as_posix()
            )
    finally:
        orchestrator.close()
    export_release([STARTER / "video_hash.pt", STARTER / "barlow.pt"], repository)  # version 2

    orchestrator = build_orchestrator(config)
    try:
        with pytest.raises(IncompatibleModelError, match="vidsearch reindex"):
            orchestrator.search_by_video(query, SearchOptions())  # latest = v2, catalog = v1
        pinned = orchestrator.search_by_video(query, SearchOptions(model_version=1))
        assert pinned.hits[0].video.video_id == refs[0].video_id
    finally:
        orchestrator.close()

    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert main(["reindex", "--config", str(config_file), "--model-version", "2"]) == 0

    orchestrator = build_orchestrator(config)
    try:
        assert {v.model_version for v in orchestrator._catalog.iter_videos()} == {2}
        result = orchestrator.search_by_video(query, SearchOptions())
        assert result.model_version == 2
        assert result.hits[0].video.video_id == refs[0].video_id
        with pytest.raises(IncompatibleModelError):
            orchestrator.search_by_video(query, SearchOptions(model_version=1))
    finally:
        orchestrator.close()
