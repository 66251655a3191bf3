"""Tag training (seed 004): metrics on a hand-made ranking, TSN and modality masking of the
cached inputs, and a tiny real run (written videos -> features -> mining rounds ->
checkpoint -> reload)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from vidsearch.media.synthetic_audio import espeak_available
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.tag_data import TagDataConfig, is_silent, load_split
from vidsearch.training.tag_metrics import ranking_metrics, top_k_share
from vidsearch.training.tag_training import (
    TagTrainConfig,
    VideoInputs,
    embed_videos,
    load_tag_model,
    train_tags,
    training_config,
)
from vidsearch.training.tags import video_tags, video_title

needs_speech = pytest.mark.skipif(not espeak_available(),
                                  reason="espeak-ng not installed: run `make speech`")


def tiny_config(cache: Path, **update: Any) -> TagTrainConfig:
    """A few short videos on the shipped frame encoder; two mining rounds."""
    return TagTrainConfig.model_validate({
        "data": {"n_train": 4, "n_val": 2, "n_test": 3, "duration_s": 4.0,
                 "cache_dir": str(cache)},
        "model": {"dim": 16, "audio_hidden": 8}, "rounds": 2, "positives_per_video": 4,
        "batch_size": 8, "num_threads": 1, **update})


def test_ranking_metrics_on_a_hand_made_ranking() -> None:
    # Video 0 ranks tags 0..5 in order, true tags 0, 2, 5: hits at ranks 1, 3, 6.
    # Video 1's only true tag (3) comes second. Video 2 has no true tag: left out.
    distances = torch.tensor([[0.0, 1, 2, 3, 4, 5], [5.0, 4, 3, 0.5, 0, 2],
                              [0.0, 1, 2, 3, 4, 5]])
    truth = torch.zeros(3, 6, dtype=torch.bool)
    truth[0, [0, 2, 5]] = True
    truth[1, 3] = True
    m = ranking_metrics(distances, truth)
    assert m["videos"] == 2
    assert m["hit1"] == pytest.approx(0.5)
    assert m["r5"] == pytest.approx((2 / 3 + 1) / 2)  # 2 of 3 in the top 5; 1 of 1
    assert m["p5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    ap0 = (1 / 1 + 2 / 3 + 3 / 6) / 3
    assert m["map"] == pytest.approx((ap0 + 1 / 2) / 2)
    distractor = torch.tensor([False, False, False, False, True, False])
    assert top_k_share(distances, distractor, k=2) == pytest.approx(1 / 3)  # only video 1


def _inputs() -> VideoInputs:
    frames = torch.arange(2 * 8, dtype=torch.float32).view(2, 8, 1).repeat(1, 1, 3)
    frame_mask = torch.ones(2, 8)
    frame_mask[1, 4:] = 0  # video 1 has 4 frames
    mfcc_mask = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # video 1 is silent
    return VideoInputs(frames, frame_mask, torch.ones(2, 2, 13), mfcc_mask,
                       torch.ones(2, 384), torch.tensor([1.0, 1.0]))


def test_tsn_takes_centre_frames_of_each_video_own_length() -> None:
    picked = _inputs().tsn(segments=2)
    assert picked.frames[0, :, 0].tolist() == [1.0, 5.0]  # segments [0,4) and [4,8)
    assert picked.frames[1, :, 0].tolist() == [8.0 + 0, 8.0 + 2]  # its 4 real frames
    assert picked.frame_mask.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    drawn = _inputs().tsn(segments=2, generator=torch.Generator().manual_seed(0))
    assert 0 <= drawn.frames[0, 0, 0] < 4 <= drawn.frames[0, 1, 0] < 8


def test_masking_keeps_only_the_asked_modalities() -> None:
    sound = _inputs().only(("audio",))
    assert sound.frame_mask.sum() == 0 and sound.title_mask.sum() == 0
    assert sound.mfcc_mask.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="unknown modalities"):
        _inputs().only(("sound",))
    # Dropping everything with p ~ 1 still leaves each video one present modality.
    dropped = _inputs().drop_modalities(0.999, torch.Generator().manual_seed(0))
    present = torch.stack([dropped.frame_mask.amax(1), dropped.mfcc_mask.amax(1),
                           dropped.title_mask], 1)
    assert present.sum(1).tolist() == [1.0, 1.0]
    assert dropped.mfcc_mask[1].sum() == 0  # a silent video never gains sound


@needs_speech
def test_tiny_run_mines_trains_and_reloads(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "cache")
    ck, metrics = train_tags(cfg, tmp_path / "tags.pt", progress=False)
    assert ck.kind == "tags" and ck.epoch == 2
    # MiniLM is not stored: frame encoder, video network and tag projection only.
    assert {k.split(".")[0] for k in ck.state_dict} == {"semantic", "video", "tag_projection"}
    history = ck.metrics["history"]
    assert [r["round"] for r in history] == [1, 2]
    assert all(0.0 <= r["zero_loss_share"] <= 1.0 and r["triplets"] > 0 for r in history)
    assert 0.0 <= metrics["seen_r5"] <= 1.0 and metrics["seen_videos"] == 2
    # The checkpoint alone rebuilds the same model (features of the cached videos).
    loaded = load_checkpoint(tmp_path / "tags.pt")
    assert training_config(loaded).model.frame_dim == 554  # the shipped encoder's size
    val = VideoInputs.of(load_split(cfg.data, "val", progress=False))
    a = embed_videos(load_tag_model(loaded).video, val, cfg.segments)
    trained = load_tag_model(ck)
    assert torch.allclose(a, embed_videos(trained.video, val, cfg.segments))
    # Same config, same model: the data (rendered by the first run, cached since) does not
    # shift the seeded initialisation.
    again, _ = train_tags(cfg, tmp_path / "again.pt", progress=False)
    assert all(torch.equal(v, again.state_dict[k]) for k, v in ck.state_dict.items())
    # The seed's delta = m mines only triplets that are already at zero loss.
    seed_ck, _ = train_tags(cfg.model_copy(update={"mining": cfg.mining.model_copy(
        update={"mining": "seed"})}), tmp_path / "seed.pt", progress=False)
    assert [r["zero_loss_share"] for r in seed_ck.metrics["history"]] == [1.0, 1.0]


@needs_speech
def test_split_features_follow_the_generator(tmp_path: Path) -> None:
    cfg = TagDataConfig(n_train=8, n_val=2, n_test=2, duration_s=4.0, silent_share=0.5,
                        cache_dir=str(tmp_path))
    data = load_split(cfg, "train", progress=False)
    seeds = list(cfg.seeds("train"))
    assert data.seeds == seeds and data.frames.shape[:2] == (8, 4)
    silent = [is_silent(s, 0.5) for s in seeds]
    assert 0 < sum(silent) < 8  # both kinds present with this share
    assert [bool(m.sum() == 0) for m in data.mfcc_mask] == silent
    titles = [video_title(s, 4.0) for s in seeds]
    assert data.titles == titles
    assert data.title_mask.tolist() == [float(bool(t)) for t in titles]
    assert data.tags == [[t.text for t in video_tags(s, 4.0)] for s in seeds]
    assert load_split(cfg, "train", progress=False).data_version == data.data_version  # cached


def test_p_by_o_takes_the_centre_of_each_window_segment() -> None:
    picked = _inputs().tsn(segments=2, windows=2)  # video 0: 8 frames, 4 segments of 2
    assert picked.frames[0, :, 0].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert picked.frames[1, :, 0].tolist() == [8.0, 9.0, 10.0, 11.0]  # 4 frames, 1 each
    assert picked.frame_mask.shape == (2, 4)
