"""Fallback to the embedded backend with the REAL tritonserver (issue 6, optional fallback).

The real gRPC server runs the orchestrator with ``inference.backend = triton`` and
``inference.fallback = onnxruntime`` over the local ONNX release (the same models Triton
serves as a CPU twin), Qdrant Edge in tmp with 3 indexed videos. We stop tritonserver:
searches keep succeeding with the same top hit, served by ONNX Runtime and counted in
``vidsearch_inference_fallback``; health stays SERVING. We start it again: once the
client's channel has reconnected, the traffic goes back to Triton by itself (the active
gauge drops to 0 and the counter stops growing). With the fallback off (the default),
the same fault is UNAVAILABLE: see ``test_triton_faults.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from vidsearch_client import VideoSearchClient
from vidsearch_client._retry import RetryPolicy

from vidsearch import metrics
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.inference.tritonserver import TritonServerProcess
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.service.server import build_server

pytestmark = [pytest.mark.triton, pytest.mark.timeout(240)]

RETRY_S = 0.5  # inference.fallback_retry_s of the server under test


def _fallback_calls() -> float:
    return sum(
        metrics.REGISTRY.get_sample_value("vidsearch_inference_fallback_total", {"model": m}) or 0.0
        for m in (FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name, VIDEO_EMBEDDER.name)
    )


def _fallback_active() -> float | None:
    return metrics.REGISTRY.get_sample_value("vidsearch_inference_fallback_active")


@dataclass
class Stack:
    triton: TritonServerProcess
    target: str
    query: Path


@pytest.fixture
def stack(
    repository: Path,
    videos: list[Path],
    twin_triton: TritonServerProcess,
    triton_config: VidsearchConfig,
) -> Iterator[Stack]:
    config = triton_config
    config.inference.fallback = "onnxruntime"
    config.inference.fallback_model_repository = repository
    config.inference.fallback_retry_s = RETRY_S
    orchestrator = build_orchestrator(config)
    running = None
    try:
        for i, path in enumerate(videos):
            orchestrator.index_video(path, video_id=f"v{i}")
        running = build_server(config, orchestrator, with_metrics=False, ready_poll_s=0.2)
        yield Stack(triton=twin_triton, target=running.target, query=videos[1])
    finally:
        if running is not None:
            running.stop(grace=1.0)
        orchestrator.close()


def _top_hit(client: VideoSearchClient, query: Path) -> str:
    return client.search_video(query, top_k=3).hits[0].video.video_id


def test_searches_survive_a_triton_outage_on_the_fallback(stack: Stack) -> None:
    with VideoSearchClient(stack.target, retry=RetryPolicy(max_attempts=1), timeout=30) as c:
        assert _top_hit(c, stack.query) == "v1"
        served_by_triton = _fallback_calls()
        assert _top_hit(c, stack.query) == "v1"
        assert _fallback_calls() == served_by_triton, "Triton up: the fallback must be idle"

        stack.triton.stop()
        during = [_top_hit(c, stack.query) for _ in range(3)]
        assert during == ["v1", "v1", "v1"]  # same answers, no error while Triton is down
        assert _fallback_calls() >= served_by_triton + 3 * 2  # encoder + heads per search
        assert _fallback_active() == 1
        for _ in range(5):  # the fallback can serve, so health stays SERVING
            assert c.health() == "SERVING"
            time.sleep(0.1)

        stack.triton.start()
        # Searches keep working while the client's gRPC channel reconnects (its own
        # backoff); once a call reaches Triton, the fallback is left.
        give_up = time.monotonic() + 30
        while _fallback_active() != 0:
            assert time.monotonic() < give_up, "traffic never went back to Triton"
            assert _top_hit(c, stack.query) == "v1"
            time.sleep(RETRY_S)
        back = _fallback_calls()
        assert [_top_hit(c, stack.query) for _ in range(3)] == ["v1", "v1", "v1"]
        assert _fallback_calls() == back, "Triton is back: the fallback must be idle again"
