"""One contract, every backend: ONNX Runtime in-process and the real tritonserver
(serving the CPU twin) must answer the same inputs with the same outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.inference.base import (
    InferenceBackend,
    InferenceError,
    ModelNotFoundError,
    TensorSpec,
)

SIZE, FEATURE, TEXTURE, BITS, EMBEDDING = 32, 32, 16, 128, 24
MODELS = (FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name, VIDEO_EMBEDDER.name)


def _frames(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _features(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, FEATURE)).astype(np.float32)


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for name, expected in want.items():
        assert got[name].shape == expected.shape, name
        assert got[name].dtype == expected.dtype, name
        if name == "hash_bits":
            np.testing.assert_array_equal(got[name], expected)
        else:
            np.testing.assert_allclose(got[name], expected, rtol=0, atol=1e-5)


def test_versions(backend: InferenceBackend) -> None:
    for model in MODELS:
        assert backend.model_versions(model) == [1, 2]
    assert backend.is_ready()


def test_signatures(backend: InferenceBackend) -> None:
    encoder = backend.signature(FRAME_ENCODER.name)
    assert encoder.version == 2
    assert encoder.inputs == (TensorSpec("frames", "uint8", (-1, SIZE, SIZE, 3)),)
    assert encoder.outputs == (TensorSpec("feature", "float32", (-1, FEATURE)),)
    heads = backend.signature(HASH_TEXTURE_HEADS.name, 1)
    assert heads.version == 1
    assert heads.inputs == (TensorSpec("feature", "float32", (-1, FEATURE)),)
    assert heads.outputs == (
        TensorSpec("texture", "float32", (-1, TEXTURE)),
        TensorSpec("hash_logits", "float32", (-1, BITS)),
        TensorSpec("hash_bits", "float32", (-1, BITS)),
    )
    embedder = backend.signature(VIDEO_EMBEDDER.name)
    assert embedder.inputs == (TensorSpec("frames", "uint8", (-1, -1, SIZE, SIZE, 3)),)
    assert embedder.outputs == (TensorSpec("embedding", "float32", (-1, EMBEDDING)),)


@pytest.mark.parametrize("batch", [1, 5])
def test_frame_encoder_batches(backend: InferenceBackend, repos: Any, batch: int) -> None:
    x = _frames(batch, SIZE, SIZE, seed=batch)
    got = backend.infer(FRAME_ENCODER.name, {"frames": x})
    _assert_same(got, repos.reference(FRAME_ENCODER.name, 2, frames=x))


@pytest.mark.parametrize("batch", [1, 37])
def test_heads_bits_identical(backend: InferenceBackend, repos: Any, batch: int) -> None:
    feature = _features(batch, seed=batch)
    got = backend.infer(HASH_TEXTURE_HEADS.name, {"feature": feature}, version=1, timeout=10.0)
    _assert_same(got, repos.reference(HASH_TEXTURE_HEADS.name, 1, feature=feature))
    assert set(np.unique(got["hash_bits"])) <= {-1.0, 1.0}


@pytest.mark.parametrize(("batch", "steps"), [(1, 1), (2, 5)])
def test_video_embedder_frame_axis(
    backend: InferenceBackend, repos: Any, batch: int, steps: int
) -> None:
    x = _frames(batch, steps, SIZE, SIZE, seed=steps)
    got = backend.infer(VIDEO_EMBEDDER.name, {"frames": x})
    _assert_same(got, repos.reference(VIDEO_EMBEDDER.name, 2, frames=x))


def test_versions_route_to_their_own_weights(backend: InferenceBackend, repos: Any) -> None:
    x = _frames(3, SIZE, SIZE)
    v1 = backend.infer(FRAME_ENCODER.name, {"frames": x}, version=1)
    v2 = backend.infer(FRAME_ENCODER.name, {"frames": x}, version=2)
    _assert_same(v1, repos.reference(FRAME_ENCODER.name, 1, frames=x))
    _assert_same(v2, repos.reference(FRAME_ENCODER.name, 2, frames=x))
    assert not np.allclose(v1["feature"], v2["feature"])


def test_unknown_model_and_version(backend: InferenceBackend) -> None:
    x = _frames(1, SIZE, SIZE)
    with pytest.raises(ModelNotFoundError):
        backend.infer("no_such_model", {"frames": x})
    with pytest.raises(ModelNotFoundError):
        backend.infer(FRAME_ENCODER.name, {"frames": x}, version=7)
    with pytest.raises(ModelNotFoundError):
        backend.model_versions("no_such_model")
    with pytest.raises(ModelNotFoundError):
        backend.signature(FRAME_ENCODER.name, 7)
    with pytest.raises(ModelNotFoundError):
        backend.signature("no_such_model")


@pytest.mark.parametrize(
    "inputs",
    [
        {"frames": np.zeros((2, SIZE, SIZE, 3), np.float32)},  # wrong dtype
        {"frames": np.zeros((2, 16, 16, 3), np.uint8)},  # wrong frame size
        {"pixels": np.zeros((2, SIZE, SIZE, 3), np.uint8)},  # wrong name
        {"frames": np.zeros((65, SIZE, SIZE, 3), np.uint8)},  # over max_batch_size 64
    ],
    ids=["dtype", "dims", "name", "batch"],
)
def test_bad_request_is_an_inference_error(
    backend: InferenceBackend, inputs: dict[str, np.ndarray]
) -> None:
    with pytest.raises(InferenceError) as caught:
        backend.infer(FRAME_ENCODER.name, inputs)
    assert not isinstance(caught.value, ModelNotFoundError)


@pytest.mark.triton
def test_backends_agree(repos: Any, triton_server: Any) -> None:
    from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
    from vidsearch.inference.triton_backend import TritonBackend

    local, remote = OnnxRuntimeBackend(repos.production), TritonBackend(triton_server.grpc_url)
    try:
        for model, inputs in (
            (FRAME_ENCODER.name, {"frames": _frames(4, SIZE, SIZE, seed=9)}),
            (HASH_TEXTURE_HEADS.name, {"feature": _features(9, seed=9)}),
            (VIDEO_EMBEDDER.name, {"frames": _frames(1, 3, SIZE, SIZE, seed=9)}),
        ):
            for version in (1, 2):
                _assert_same(
                    remote.infer(model, inputs, version=version),
                    local.infer(model, inputs, version=version),
                )
            assert remote.signature(model) == local.signature(model)
    finally:
        local.close()
        remote.close()
