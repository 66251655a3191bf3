"""The flipped query rides in the same encoder batches: its rows are the codes of the
mirrored frames, and the original outputs do not change (real ONNX Runtime, toy models)."""

from __future__ import annotations

import numpy as np
import pytest

from vidsearch.exporters.pipeline import export_family
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.orchestrator.encoding import DecodedFrames, VideoEncoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> VideoEncoder:
    repository = tmp_path_factory.mktemp("toy_repository")
    export_family("toy", None, repository, seed=0)
    return VideoEncoder(OnnxRuntimeBackend(repository), timeout_s=30.0, batch_size=4)


def _decoded(frames: np.ndarray) -> DecodedFrames:
    n = len(frames)
    return DecodedFrames(frames, np.arange(n, dtype=np.float64), float(n))


def test_flipped_rows_are_the_mirrored_frames_and_originals_are_unchanged(
    encoder: VideoEncoder,
) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    plain = encoder(_decoded(rgb))
    both = encoder(_decoded(rgb), flip=True)  # 10 frames over batches of 4
    assert plain.flipped_texture is None and plain.flipped_bits is None
    assert both.flipped_texture is not None and both.flipped_bits is not None
    assert both.flipped_texture.shape == both.keyframe_texture.shape
    np.testing.assert_allclose(both.keyframe_texture, plain.keyframe_texture, atol=1e-5)
    np.testing.assert_array_equal(both.keyframe_bits, plain.keyframe_bits)
    np.testing.assert_allclose(both.video_texture, plain.video_texture, atol=1e-5)
    mirrored = encoder(_decoded(np.ascontiguousarray(rgb[:, :, ::-1])))
    np.testing.assert_allclose(both.flipped_texture, mirrored.keyframe_texture, atol=1e-5)
    np.testing.assert_array_equal(both.flipped_bits, mirrored.keyframe_bits)
    assert not np.allclose(both.flipped_texture, both.keyframe_texture, atol=1e-3)
