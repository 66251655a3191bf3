"""FallbackBackend without a tritonserver: the primary is a real TritonBackend dialling a
loopback port where nothing listens (every call really refused), the fallback the real
ONNX Runtime backend over the toy repository. The end-to-end fault test with the real
tritonserver stopping and coming back is ``tests/reliability/test_triton_fallback.py``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from vidsearch import metrics
from vidsearch.config import InferenceConfig
from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS
from vidsearch.inference.factory import build_backend
from vidsearch.inference.fallback import FallbackBackend
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.inference.triton_backend import TritonBackend


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def failover(repos, clock: Clock) -> Iterator[FallbackBackend]:
    triton = TritonBackend(f"127.0.0.1:{_closed_port()}", timeout=5.0)
    backend = FallbackBackend(
        triton, OnnxRuntimeBackend(repos.production), retry_after_s=2.0, clock=clock
    )
    yield backend
    backend.close()


def _fallback_calls(model: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("vidsearch_inference_fallback_total", {"model": model})
        or 0.0
    )


def test_triton_refused_is_served_by_onnxruntime(repos, failover: FallbackBackend) -> None:
    before = _fallback_calls(FRAME_ENCODER.name)
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    got = failover.infer(FRAME_ENCODER.name, {"frames": frames}, version=1)
    want = repos.reference(FRAME_ENCODER.name, 1, frames=frames)
    np.testing.assert_allclose(got["feature"], want["feature"], rtol=0, atol=1e-5)
    assert failover.serving_fallback
    assert _fallback_calls(FRAME_ENCODER.name) == before + 1
    assert metrics.REGISTRY.get_sample_value("vidsearch_inference_fallback_active") == 1
    assert failover.model_versions(FRAME_ENCODER.name) == [1, 2]
    assert failover.signature(FRAME_ENCODER.name).version == 2
    assert failover.is_ready()  # the fallback can serve, so the server can


def test_primary_is_retried_after_the_pause(failover: FallbackBackend, clock: Clock) -> None:
    assert failover.primary_retry_at is None  # nothing failed yet
    failover.model_versions(FRAME_ENCODER.name)
    assert failover.primary_retry_at == 2.0  # refused at t=0: retry 2 s later
    clock.now = 1.0  # within the pause: the fallback answers, Triton is not tried
    assert failover.model_versions(FRAME_ENCODER.name) == [1, 2]
    assert failover.primary_retry_at == 2.0  # a failed try would have moved it to 3.0
    clock.now = 6.0  # past it: Triton is tried again, still refused, a new pause
    assert failover.model_versions(FRAME_ENCODER.name) == [1, 2]
    assert failover.primary_retry_at == 8.0


def test_factory_wraps_triton_only_when_asked(repos) -> None:
    url = f"127.0.0.1:{_closed_port()}"
    plain = build_backend(InferenceConfig(backend="triton", triton_url=url))
    assert isinstance(plain, TritonBackend)
    plain.close()
    wrapped = build_backend(
        InferenceConfig(
            backend="triton",
            triton_url=url,
            fallback="onnxruntime",
            fallback_model_repository=repos.production,
        )
    )
    try:
        assert isinstance(wrapped, FallbackBackend)
        assert wrapped.model_versions(HASH_TEXTURE_HEADS.name) == [1, 2]
    finally:
        wrapped.close()
