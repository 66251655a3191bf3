"""ONNX Runtime backend specifics: providers, version policy, new versions, threads."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsearch.config import InferenceConfig
from vidsearch.contract.models import FRAME_ENCODER, VIDEO_EMBEDDER
from vidsearch.exporters.pipeline import export_family
from vidsearch.inference.base import InferenceBackend, InferenceTimeoutError, ModelNotFoundError
from vidsearch.inference.factory import build_backend
from vidsearch.inference.onnxruntime_backend import (
    CPU,
    OnnxRuntimeBackend,
    default_providers,
    gpu_present,
)
from vidsearch.inference.triton_backend import TritonBackend
from vidsearch.inference.tritonserver import free_port

SIZE = 32


def _frames(batch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(batch, SIZE, SIZE, 3), dtype=np.uint8)


def test_providers() -> None:
    providers = default_providers()
    assert providers[-1] == CPU
    if not gpu_present():
        assert providers == [CPU]
    with pytest.raises(ValueError, match="not available"):
        OnnxRuntimeBackend(Path("."), providers=["NoSuchExecutionProvider"])


def test_backend_satisfies_protocol(repos: Any) -> None:
    backend = OnnxRuntimeBackend(repos.production, providers=[CPU])
    assert isinstance(backend, InferenceBackend)
    assert "OnnxRuntimeBackend" in repr(backend)


def test_policy_new_versions_and_pinning(tmp_path: Path, repos: Any) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(repos.production, repo)
    backend = OnnxRuntimeBackend(repo)
    assert backend.model_versions(FRAME_ENCODER.name) == [1, 2]
    export_family("toy", None, repo, seed=20)  # version 3; policy keeps the latest two
    backend.refresh()
    assert backend.model_versions(FRAME_ENCODER.name) == [2, 3]
    assert backend.signature(FRAME_ENCODER.name).version == 3
    with pytest.raises(ModelNotFoundError, match="serving \\[2, 3\\]"):
        backend.infer(FRAME_ENCODER.name, {"frames": _frames(1)}, version=1)
    pinned = OnnxRuntimeBackend(repo, default_version=2)
    assert pinned.signature(FRAME_ENCODER.name).version == 2


def test_model_not_found_names_no_server_path(tmp_path: Path) -> None:
    """The message reaches clients (NOT_FOUND): it names the model, not the server's folders."""
    repo = tmp_path / "secret-place" / "repo"
    (repo / "empty_model").mkdir(parents=True)
    backend = OnnxRuntimeBackend(repo)
    for model in ("no_such_model", "empty_model"):
        with pytest.raises(ModelNotFoundError, match=model) as caught:
            backend.infer(model, {"frames": _frames(1)})
        assert "secret-place" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_one_session_per_version_under_threads(repos: Any) -> None:
    backend = OnnxRuntimeBackend(repos.production)
    batches = [_frames(2, seed) for seed in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda x: backend.infer(FRAME_ENCODER.name, {"frames": x}), batches)
        )
    for x, got in zip(batches, results, strict=True):
        want = repos.reference(FRAME_ENCODER.name, 2, frames=x)["feature"]
        np.testing.assert_array_equal(got["feature"], want)
    assert backend.session_count() == 1
    backend.close()
    assert backend.session_count() == 0


def test_factory(repos: Any) -> None:
    config = {"model_repository": repos.production, "model_version": 1}
    local = build_backend(InferenceConfig.model_validate(config))
    assert isinstance(local, OnnxRuntimeBackend)
    assert local.signature(FRAME_ENCODER.name).version == 1
    url = f"127.0.0.1:{free_port()}"
    remote = build_backend(
        InferenceConfig.model_validate({"backend": "triton", "triton_url": url, "timeout_s": 2.0})
    )
    assert isinstance(remote, TritonBackend)
    assert remote.timeout == 2.0 and not remote.is_ready()
    remote.close()


def test_timeout_terminates_a_running_session(repos: Any) -> None:
    backend = OnnxRuntimeBackend(repos.production)
    clip = np.zeros((1, 2000, SIZE, SIZE, 3), np.uint8)  # ~0.3 s of compute here
    with pytest.raises(InferenceTimeoutError, match="did not finish"):
        backend.infer(VIDEO_EMBEDDER.name, {"frames": clip}, timeout=0.002)
    assert backend.infer(VIDEO_EMBEDDER.name, {"frames": clip[:, :2]}, timeout=30.0)
