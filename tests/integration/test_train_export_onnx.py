"""Train (a few steps, tiny model) → export ONNX into a repository → serve with ONNX Runtime:
the served outputs equal PyTorch's, hash bits identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.evaluation.systems import export_release
from vidsearch.exporters.repository import list_models
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.training.barlow import train_barlow
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.config import BarlowConfig, DataConfig, Stage1Config, Stage2Config
from vidsearch.training.data import Corpus
from vidsearch.training.hashing import train_stage1, train_stage2

BACKBONE = {"widths": [4, 8, 8, 8], "input_size": 32}
COMMON = {
    "data": DataConfig(n_videos=6, duration_s=4.0, frame_size=32, n_val_videos=3).model_dump(),
    "steps_per_epoch": 2,
    "warmup_steps": 1,
    "num_threads": 1,
    "batch_size": 4,
    "max_epochs": 1,
}
HASH = {
    **COMMON,
    "m": 2,
    "eval_queries": 8,
    "model": {"backbone": BACKBONE, "heads": {"texture_dim": 8, "hash_bits": 128, "hidden": 8}},
}


def _corpus(n: int, seed: int) -> Corpus:
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n, 8, 32, 32, 3), generator=gen, dtype=torch.uint8)
    return Corpus(frames, render_fps=2.0, sample_fps=1.0, data_version=f"fake-{seed}")


def test_train_export_and_serve_with_onnxruntime(tmp_path: Path) -> None:
    train, val = _corpus(6, 0), _corpus(3, 1)
    barlow = BarlowConfig.model_validate(
        {
            **COMMON,
            "clip_len": 2,
            "model": {"backbone": BACKBONE, "projector": {"hidden": [16], "out_dim": 32}},
        }
    )
    train_barlow(barlow, tmp_path / "barlow.pt", corpus=train, progress=False)
    s1 = Stage1Config.model_validate({**HASH, "init_from": str(tmp_path / "barlow.pt")})
    train_stage1(s1, tmp_path / "stage1.pt", corpus=train, val=val, progress=False)
    s2 = Stage2Config.model_validate({**HASH, "init_from": str(tmp_path / "stage1.pt")})
    train_stage2(s2, tmp_path / "video_hash.pt", corpus=train, val=val, progress=False)

    repository = tmp_path / "model_repository"
    export_release([tmp_path / "video_hash.pt", tmp_path / "barlow.pt"], repository)
    assert list_models(repository) == {
        FRAME_ENCODER.name: [1],
        HASH_TEXTURE_HEADS.name: [1],
        VIDEO_EMBEDDER.name: [1],
    }

    frames = np.random.default_rng(3).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    model = load_checkpoint(tmp_path / "video_hash.pt").build_model().eval()
    with torch.no_grad():
        texture, _, bits = model(torch.from_numpy(frames))
    backend = OnnxRuntimeBackend(repository)
    try:
        feature = backend.infer(FRAME_ENCODER.name, {"frames": frames})["feature"]
        served = backend.infer(HASH_TEXTURE_HEADS.name, {"feature": feature})
    finally:
        backend.close()
    np.testing.assert_array_equal(served["hash_bits"], bits.numpy())
    np.testing.assert_allclose(served["texture"], texture.numpy(), atol=1e-4)
    assert set(np.unique(served["hash_bits"])) <= {-1.0, 1.0}
