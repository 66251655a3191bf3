"""SearchByVideo and SearchByText through the real tritonserver (CPU twin of the starter
repository) give the same results as the embedded ONNX Runtime backend, and Triton's own
metrics count the work."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER, TEXT_VIDEO_SCORER
from vidsearch.exporters.cpu_twin import sync_cpu_twin
from vidsearch.inference.tritonserver import TritonServerProcess
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.orchestrator.api import (
    SearchOptions,
    SearchResult,
    TextSearchOptions,
    TextSearchResult,
)
from vidsearch.orchestrator.factory import build_orchestrator

pytestmark = pytest.mark.triton


def _search_all(config: VidsearchConfig, corpus: BenchmarkManifest) -> list[SearchResult]:
    orchestrator = build_orchestrator(config)
    try:
        for ref in corpus.references[:12]:
            orchestrator.index_video(Path(ref.path), video_id=ref.video_id)
        return [
            orchestrator.search_by_video(Path(q.path), SearchOptions(top_k=5))
            for q in corpus.queries[:6]
        ]
    finally:
        orchestrator.close()


def _config(repository: Path, catalog: Path) -> VidsearchConfig:
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.path = catalog
    return config


def test_triton_backend_serves_the_same_search_results(
    starter_repository: Path, corpus: BenchmarkManifest, tmp_path: Path
) -> None:
    embedded = _search_all(_config(starter_repository, tmp_path / "ort"), corpus)

    twin = tmp_path / "cpu_twin"
    sync_cpu_twin(starter_repository, twin)
    with TritonServerProcess(twin, work_dir=tmp_path / "triton") as triton:
        config = _config(starter_repository, tmp_path / "triton_catalog")
        config.inference.backend = "triton"
        config.inference.triton_url = triton.grpc_url
        served = _search_all(config, corpus)
        requests = _frame_encoder_successes(triton.metrics_url, at_least=18)  # 12 + 6 videos

    assert any(result.hits for result in embedded), "the comparison needs real hits"
    for ort_result, triton_result in zip(embedded, served, strict=True):
        assert [h.video.video_id for h in triton_result.hits] == [
            h.video.video_id for h in ort_result.hits
        ]
        assert [h.hamming for h in triton_result.hits] == [h.hamming for h in ort_result.hits]
        assert [h.score for h in triton_result.hits] == pytest.approx(
            [h.score for h in ort_result.hits], abs=1e-4
        )
    assert requests >= 18


TEXTS = ("a red circle moves left", "a small blue square on a striped background")


def _text_search_all(config: VidsearchConfig, corpus: BenchmarkManifest) -> list[TextSearchResult]:
    orchestrator = build_orchestrator(config)
    try:
        for ref in corpus.references[:8]:
            orchestrator.index_video(Path(ref.path), video_id=ref.video_id)
        return [orchestrator.search_by_text(t, TextSearchOptions(top_k=6, candidates=4))
                for t in TEXTS]
    finally:
        orchestrator.close()


def test_triton_backend_serves_the_same_text_search_results(
    text_repository: Path, corpus: BenchmarkManifest, tmp_path: Path
) -> None:
    """The text-search models (MiniLM encoder, video side, scorer) through Triton's CPU twin."""
    embedded = _text_search_all(_config(text_repository, tmp_path / "ort"), corpus)
    twin = tmp_path / "cpu_twin"
    sync_cpu_twin(text_repository, twin)
    with TritonServerProcess(twin, work_dir=tmp_path / "triton") as triton:
        config = _config(text_repository, tmp_path / "triton_catalog")
        config.inference.backend = "triton"
        config.inference.triton_url = triton.grpc_url
        served = _text_search_all(config, corpus)
        scored = _model_successes(triton.metrics_url, TEXT_VIDEO_SCORER.name, at_least=2)
    assert scored >= 2  # one batched stage 2 request per query
    for ort_result, triton_result in zip(embedded, served, strict=True):
        assert triton_result.keywords == ort_result.keywords
        assert [h.video.video_id for h in triton_result.hits] == [
            h.video.video_id for h in ort_result.hits
        ]
        assert [h.score for h in triton_result.hits] == pytest.approx(
            [h.score for h in ort_result.hits], abs=1e-4
        )
        assert sum(h.rescored for h in triton_result.hits) == 4


def _frame_encoder_successes(url: str, at_least: float) -> float:
    return _model_successes(url, FRAME_ENCODER.name, at_least)


def _model_successes(url: str, model: str, at_least: float) -> float:
    """Triton refreshes metrics every 2 s: scrape until the count arrives (bounded)."""
    deadline = time.monotonic() + 10.0
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        count = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("nv_inference_request_success") and f'model="{model}"' in line
        )
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.5)
