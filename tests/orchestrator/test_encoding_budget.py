"""The request budget inside the decode and encode stages (real decoder, real ONNX Runtime
backend over the toy model family): a late or cancelled request starts no inference call
and stops its decode; a live budget changes no result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsearch.config import MediaConfig
from vidsearch.deadline import DeadlineExceededError, RequestBudget, RequestCancelledError
from vidsearch.exporters.pipeline import export_family
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.media.synthetic import render_video, write_video
from vidsearch.orchestrator.encoding import DecodedFrames, FrameDecoder, VideoEncoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> VideoEncoder:
    repository = tmp_path_factory.mktemp("toy_repository")
    export_family("toy", None, repository, seed=0)
    return VideoEncoder(OnnxRuntimeBackend(repository), timeout_s=30.0)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("budget") / "v.mp4"
    return write_video(path, render_video(3, 4.0, 8.0, 64, 48), 8.0)


def _decoded(frames: int = 5) -> DecodedFrames:
    rgb = np.random.default_rng(1).integers(0, 256, size=(frames, 32, 32, 3), dtype=np.uint8)
    return DecodedFrames(rgb, np.arange(frames, dtype=np.float64), float(frames))


def test_live_budget_gives_the_same_codes(encoder: VideoEncoder) -> None:
    decoded = _decoded()
    plain = encoder(decoded, with_embedding=True)
    budgeted = encoder(decoded, with_embedding=True, budget=RequestBudget(30.0))
    np.testing.assert_array_equal(budgeted.video_bits, plain.video_bits)
    np.testing.assert_allclose(budgeted.keyframe_texture, plain.keyframe_texture, atol=1e-6)
    assert budgeted.embedding is not None and plain.embedding is not None


def test_late_or_cancelled_request_runs_no_inference(encoder: VideoEncoder) -> None:
    with pytest.raises(DeadlineExceededError, match="before running frame_encoder"):
        encoder(_decoded(), budget=RequestBudget(0.0))
    cancelled = RequestBudget(30.0)
    cancelled.cancel()
    with pytest.raises(RequestCancelledError, match="before running frame_encoder"):
        encoder(_decoded(), budget=cancelled)


@pytest.mark.parametrize("sandbox", [False, True], ids=["in_process", "sandboxed"])
def test_cancelled_request_stops_decoding(mp4: Path, sandbox: bool) -> None:
    decoder = FrameDecoder(MediaConfig(sandbox=sandbox, sample_fps=2.0), 32)
    assert len(decoder(mp4, budget=RequestBudget(30.0)).frames) == 8  # live: all 4 s at 2 fps
    cancelled = RequestBudget(30.0)
    cancelled.cancel()
    with pytest.raises(RequestCancelledError, match="before decoding finished"):
        decoder(mp4, budget=cancelled)
