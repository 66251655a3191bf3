"""Triton-only behaviour against the real tritonserver: metrics, deadlines, outages,
concurrent batching and explicit model control."""

from __future__ import annotations

import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsearch.contract.models import FRAME_ENCODER, VIDEO_EMBEDDER
from vidsearch.inference.base import (
    BackendUnavailableError,
    InferenceTimeoutError,
    ModelNotFoundError,
)
from vidsearch.inference.triton_backend import TritonBackend
from vidsearch.inference.tritonserver import TritonServerError, TritonServerProcess, free_port

pytestmark = pytest.mark.triton
SIZE = 32


def _frames(batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(batch, SIZE, SIZE, 3), dtype=np.uint8)


def _metric(text: str, name: str, model: str, version: str) -> float:
    pattern = rf'^{name}\{{[^}}]*model="{model}"[^}}]*version="{version}"[^}}]*\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} for {model} v{version} not in metrics"
    return float(match.group(1))


def test_metrics_count_successful_requests(triton_server: Any) -> None:
    backend = TritonBackend(triton_server.grpc_url)
    try:

        def scrape() -> str:
            with urllib.request.urlopen(triton_server.metrics_url, timeout=5) as response:
                return str(response.read().decode())

        before = _metric(scrape(), "nv_inference_request_success", FRAME_ENCODER.name, "1")
        for seed in range(3):
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(2, seed)}, version=1)
        # Triton refreshes its metrics on an interval (2 s by default): poll, bounded.
        deadline = time.monotonic() + 10.0
        while True:
            text = scrape()
            after = _metric(text, "nv_inference_request_success", FRAME_ENCODER.name, "1")
            if after - before >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert after - before == 3
        assert _metric(text, "nv_inference_count", FRAME_ENCODER.name, "1") >= 6
        assert "nv_inference_compute_infer_duration_us" in text
    finally:
        backend.close()


def test_deadline_becomes_timeout_error(triton_server: Any) -> None:
    backend = TritonBackend(triton_server.grpc_url, timeout=1e-6)
    try:
        with pytest.raises(InferenceTimeoutError):
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)})
        with pytest.raises(InferenceTimeoutError):  # per-call deadline wins
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)}, timeout=1e-6)
        assert backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)}, timeout=10.0)
    finally:
        backend.close()


def test_unreachable_server_is_unavailable() -> None:
    backend = TritonBackend(f"127.0.0.1:{free_port()}", timeout=2.0)
    try:
        assert not backend.is_ready()
        with pytest.raises(BackendUnavailableError) as caught:
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)})
        assert not isinstance(caught.value, InferenceTimeoutError)
        with pytest.raises(BackendUnavailableError):
            backend.model_versions(FRAME_ENCODER.name)
    finally:
        backend.close()


def test_concurrent_requests_get_their_own_answers(triton_server: Any, repos: Any) -> None:
    backend = TritonBackend(triton_server.grpc_url)
    batches = [_frames(1 + i % 3, seed=100 + i) for i in range(24)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(
                pool.map(lambda x: backend.infer(FRAME_ENCODER.name, {"frames": x}), batches)
            )
    finally:
        backend.close()
    for x, got in zip(batches, results, strict=True):
        want = repos.reference(FRAME_ENCODER.name, 2, frames=x)["feature"]
        np.testing.assert_allclose(got["feature"], want, rtol=0, atol=1e-5)


def test_unload_and_reload(triton_server: Any) -> None:
    backend = TritonBackend(triton_server.grpc_url)
    try:
        triton_server.unload_model(VIDEO_EMBEDDER.name)
        assert backend.model_versions(VIDEO_EMBEDDER.name) == []
        with pytest.raises(ModelNotFoundError):
            backend.infer(VIDEO_EMBEDDER.name, {"frames": _frames(1, 0)[None]})
        triton_server.load_model(VIDEO_EMBEDDER.name)
        assert backend.model_versions(VIDEO_EMBEDDER.name) == [1, 2]
    finally:
        triton_server.load_model(VIDEO_EMBEDDER.name)
        backend.close()


def test_start_failure_reports_the_reason(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\n')
    (repo / "broken" / "1" / "model.py").write_text("raise RuntimeError('model file is broken')\n")
    server = TritonServerProcess(repo, work_dir=tmp_path / "work", startup_timeout_s=60)
    with pytest.raises(TritonServerError, match="model file is broken"):
        server.start()
    assert not server.running
