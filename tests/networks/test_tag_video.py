"""Tag video network: TSN / P×O sampling indices, branch shapes, and missing-modality masking."""

from __future__ import annotations

import pytest
import torch

from vidsearch.networks.tag_video import (
    MFCC_DIM,
    TagEncoder,
    TagVideoConfig,
    TagVideoNetwork,
    build_tag_encoder,
    build_tag_video_network,
    scene_pool,
    tsn_indices,
)
from vidsearch.networks.text_encoder import TextEncoder, load_tokenizer, tokenize


def test_tsn_centre_frames_at_inference() -> None:
    # 20 frames, 4 segments of 5: [0,5) [5,10) [10,15) [15,20) -> centres 2, 7, 12, 17.
    assert tsn_indices(20, 4) == [[2, 7, 12, 17]]
    # Unequal division: bounds 0, 2, 5, 7, 10 -> segments [0,2) [2,5) [5,7) [7,10).
    assert tsn_indices(10, 4) == [[0, 3, 5, 8]]


def test_tsn_p_by_o_windows() -> None:
    # 24 frames, P=2 windows of 12, each O=3 segments of 4: centres 1, 5, 9 | 13, 17, 21.
    assert tsn_indices(24, 3, windows=2) == [[1, 5, 9], [13, 17, 21]]


def test_tsn_short_video_repeats_frames() -> None:
    assert tsn_indices(2, 4) == [[0, 0, 1, 1]]
    assert tsn_indices(1, 3) == [[0, 0, 0]]
    with pytest.raises(ValueError):
        tsn_indices(0, 3)


def test_tsn_training_draws_one_frame_per_segment() -> None:
    seen: list[set[int]] = [set() for _ in range(6)]
    for seed in range(200):
        picks = tsn_indices(24, 3, windows=2, generator=torch.Generator().manual_seed(seed))
        flat = [i for window in picks for i in window]
        for k, i in enumerate(flat):
            assert 4 * k <= i < 4 * (k + 1)  # inside its own segment
            seen[k].add(i)
    assert all(s == set(range(4 * k, 4 * k + 4)) for k, s in enumerate(seen))  # all reachable
    a = tsn_indices(24, 3, generator=torch.Generator().manual_seed(7))
    assert a == tsn_indices(24, 3, generator=torch.Generator().manual_seed(7))


def _inputs(b: int = 3, t: int = 5, n: int = 9, f: int = 10) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"frames": torch.randn(b, t, f, generator=g), "frame_mask": torch.ones(b, t),
            "mfcc": torch.randn(b, n, MFCC_DIM, generator=g), "mfcc_mask": torch.ones(b, n),
            "title": torch.randn(b, 24, generator=g), "title_mask": torch.ones(b)}


def _net(**kw: object) -> TagVideoNetwork:
    torch.manual_seed(0)
    return build_tag_video_network(
        {"frame_dim": 10, "dim": 8, "frame_hidden": 6, "audio_hidden": 4, "text_dim": 24, **kw})


@pytest.mark.parametrize("fusion", ["moe", "concat", "mean"])
@pytest.mark.parametrize("temporal", ["mean", "gru"])
def test_shapes_and_padding_invariance(fusion: str, temporal: str) -> None:
    net = _net(fusion=fusion, temporal=temporal).eval()
    x = _inputs()
    out = net(**x)
    assert out.shape == (3, 8) and torch.isfinite(out).all()
    # Padding frames / MFCC steps after the real ones changes nothing.
    padded = dict(x)
    padded["frames"] = torch.cat([x["frames"], torch.randn(3, 2, 10)], 1)
    padded["frame_mask"] = torch.cat([x["frame_mask"], torch.zeros(3, 2)], 1)
    padded["mfcc"] = torch.cat([x["mfcc"], torch.randn(3, 4, MFCC_DIM)], 1)
    padded["mfcc_mask"] = torch.cat([x["mfcc_mask"], torch.zeros(3, 4)], 1)
    torch.testing.assert_close(net(**padded), out)


def test_scene_pool_means_equal_runs_of_the_real_frames() -> None:
    x = torch.arange(6, dtype=torch.float32).view(1, 6, 1).repeat(2, 1, 1)  # frames 0..5
    mask = torch.tensor([[1.0] * 5 + [0.0], [1.0] + [0.0] * 5])  # 5 real frames; 1 real frame
    out = scene_pool(x, mask, 2)[..., 0]
    # 5 frames in 2 runs: [0, 2) and [2, 5) (the padded frame 5 never counts); one frame
    # only: every run takes it
    assert out.tolist() == [[0.5, 3.0], [0.0, 0.0]]
    assert scene_pool(x, mask, 8)[0, :, 0].tolist() == [0, 0, 1, 1, 2, 3, 3, 4]


@pytest.mark.parametrize("fusion", ["moe", "concat", "mean"])
def test_a_scene_is_fused_as_a_frames_only_video(fusion: str) -> None:
    net = _net(fusion=fusion).eval()
    x = _inputs()
    scenes = net.scene_features(x["frames"], x["frame_mask"])
    assert scenes.shape == (3, net.cfg.scenes, 8)
    # one scene of every frame is the video with sound and title missing (mean pooling
    # commutes with the affine expert); for moe and mean that is the frames expert itself
    net.cfg.scenes = 1
    one = net.scene_features(x["frames"], x["frame_mask"])[:, 0]
    silent = {**x, "mfcc_mask": torch.zeros_like(x["mfcc_mask"]),
              "title_mask": torch.zeros_like(x["title_mask"])}
    torch.testing.assert_close(one, net(**silent))
    if fusion != "concat":
        torch.testing.assert_close(one, net.experts(**x)[0]["frames"])


@pytest.mark.parametrize("fusion", ["moe", "mean"])
@pytest.mark.parametrize("missing", ["audio", "title"])
def test_missing_modality_equals_the_others_alone(fusion: str, missing: str) -> None:
    net = _net(fusion=fusion)
    x = _inputs()
    x[f"{'mfcc' if missing == 'audio' else 'title'}_mask"][1] = 0  # row 1 lacks the modality
    out = net(**x)
    experts, present = net.experts(**x)
    others = [m for m in experts if m != missing]
    alone = net.fusion({m: experts[m] for m in others}, {m: present[m] for m in others})
    torch.testing.assert_close(out[1], alone[1])
    assert not torch.allclose(out[0], alone[0])  # rows that have it do use it
    # Gradients from the row without the modality never reach that branch.
    out[1].sum().backward()
    branch = [*net.project[missing].parameters()]
    if missing == "audio":
        branch += [*net.audio.parameters()]
    assert all(p.grad is None or not p.grad.any() for p in branch)
    assert any(p.grad is not None and p.grad.any() for p in net.project["frames"].parameters())


def test_moe_weights_are_a_softmax_over_present_modalities() -> None:
    net = _net(fusion="moe")
    x = _inputs()
    x["mfcc_mask"][:] = 0
    x["title_mask"][:] = 0
    experts, _ = net.experts(**x)
    # Only frames present: the feature is the frame expert itself (weight 1).
    torch.testing.assert_close(net(**x), experts["frames"])


def test_concat_baseline_ignores_missing_content() -> None:
    net = _net(fusion="concat")
    x = _inputs()
    x["mfcc_mask"][0] = 0
    y = dict(x, mfcc=x["mfcc"] + 5.0)
    out, moved = net(**x), net(**y)
    torch.testing.assert_close(out[0], moved[0])
    assert not torch.allclose(out[1], moved[1])


def _tiny_bert() -> torch.nn.Module:
    """A MiniLM-shaped backbone, one small BERT layer with random weights (no download)."""
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(vocab_size=30522, hidden_size=24, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32),
                     add_pooling_layer=False)


def test_tag_encoder_frozen_text_encoder_shared_weights() -> None:
    torch.manual_seed(0)
    enc = TagEncoder(TextEncoder(_tiny_bert()), dim=8, text_dim=24).train()
    assert not enc.text_encoder.training and enc.projection.training
    ids = torch.randint(1000, 2000, (4, 6))
    mask = torch.ones(4, 6, dtype=torch.long)
    pos, neg = enc(ids[:2], mask[:2]), enc(ids[2:], mask[2:])
    torch.testing.assert_close(enc(ids, mask), torch.cat([pos, neg]))  # one set of weights
    (pos.sum() - neg.sum()).backward()
    assert all(p.grad is None for p in enc.text_encoder.parameters())
    assert enc.projection.weight.grad is not None
    assert [n for n, p in enc.named_parameters() if p.requires_grad] == [
        "projection.weight", "projection.bias"]


def test_tag_encoder_on_the_bundled_minilm() -> None:
    torch.manual_seed(0)
    enc = build_tag_encoder(dim=16)
    ids, mask = tokenize(load_tokenizer(), ["red ring", "a small blue square moving left", ""])
    with torch.no_grad():
        out = enc(ids, mask)
    assert out.shape == (3, 16) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError):
        TagVideoConfig.model_validate({"fusion": "multiply"})


def test_scene_aware_similarity_is_one_formula_for_numpy_and_torch() -> None:
    import numpy as np

    from vidsearch.contract.tag_scoring import scene_aware_similarity

    video = np.array([[0.5, -0.2]], np.float32)
    scenes = np.array([[[0.1, 0.9], [0.7, -0.5]]], np.float32)  # best per tag: 0.7, 0.9
    expected = [[(0.5 + 2 * 0.7) / 3, (-0.2 + 2 * 0.9) / 3]]
    np.testing.assert_allclose(scene_aware_similarity(video, scenes, 2.0), expected, rtol=1e-6)
    torch.testing.assert_close(
        scene_aware_similarity(torch.from_numpy(video), torch.from_numpy(scenes), 2.0),
        torch.tensor(expected))
    assert scene_aware_similarity(video, scenes, 0.0) is video
    assert scene_aware_similarity(video, None, 2.0) is video
