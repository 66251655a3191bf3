"""Text-search heads: shapes, the keyword path, and the adaptive frame weights' behaviour."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidsearch.networks.text_video import (
    TextVideoModel,
    build_text_video_model,
)

# The heads do not depend on the frame encoder: the small copy-style trunk keeps this fast
# (the semantic encoder's chain is tested in tests/training/test_semantic.py).
TINY = {"visual": "copy_trunk",
        "backbone": {"widths": [8, 8, 16, 16], "input_size": 32}, "dim": 16, "embed_dim": 12,
        "colour_bins": 0,
        "heads": 2, "max_frames": 8, "keywords": 3, "text_dim": 24, "dropout": 0.0}


def _tiny() -> TextVideoModel:
    torch.manual_seed(0)
    return build_text_video_model(TINY, with_text_encoder=False).eval()


def test_shapes() -> None:
    model = _tiny()
    frames = torch.randint(0, 256, (2, 5, 32, 32, 3), dtype=torch.uint8)
    emb, local, f = model.video(frames)
    assert emb.shape == (2, 12) and local.shape == (2, 5, 16) and f.shape == (2, 5, 16)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    a = local.norm(dim=-1)
    assert bool(((a > 0) & (a < 1)).all())  # sigmoid weights on unit vectors
    tokens, text = torch.randn(3, 7, 24), torch.randn(3, 24)
    tmask = torch.ones(3, 7, dtype=torch.long)
    tmask[0, 5:] = 0
    kws, kmask = torch.randn(3, 3, 24), torch.ones(3, 3, dtype=torch.long)
    scores = model.score_matrix(tokens, tmask, text, kws, kmask, local, f)
    assert scores.shape == (3, 2)
    score, fine, coarse = model.scorer(tokens[:2], tmask[:2], text[:2], kws[:2], kmask[:2],
                                       local, f)
    assert torch.allclose(score, fine + coarse)
    assert torch.allclose(score, torch.stack([scores[0, 0], scores[1, 1]]), atol=1e-5)
    assert model.mean_pool_similarity(text, f).shape == (3, 2)


def test_padding_tokens_do_not_count() -> None:
    model = _tiny()
    local, f = torch.randn(1, 4, 16), torch.randn(1, 4, 16)
    tokens, text, kws = torch.randn(1, 5, 24), torch.randn(1, 24), torch.randn(1, 3, 24)
    kmask = torch.ones(1, 3, dtype=torch.long)
    short = model.scorer(tokens[:, :3], torch.ones(1, 3), text, kws, kmask, local, f)[0]
    padded_mask = torch.tensor([[1, 1, 1, 0, 0]])
    padded = model.scorer(tokens, padded_mask, text, kws, kmask, local, f)[0]
    assert torch.allclose(short, padded, atol=1e-5)


def test_padded_frames_with_a_frame_mask_do_not_count() -> None:
    """Stage 2 batches candidates of different lengths: padding must not move a score."""
    model = _tiny()
    frames = torch.randint(0, 256, (1, 3, 32, 32, 3), dtype=torch.uint8)
    _, local, f = model.video(frames)
    tokens, text, kws = torch.randn(1, 5, 24), torch.randn(1, 24), torch.randn(1, 3, 24)
    tmask, kmask = torch.ones(1, 5), torch.ones(1, 3)
    alone = model.scorer(tokens, tmask, text, kws, kmask, local, f)
    pad_local = torch.cat([local, torch.zeros(1, 2, 16)], dim=1)
    pad_f = torch.cat([f, torch.randn(1, 2, 16)], dim=1)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]])
    padded = model.scorer(tokens, tmask, text, kws, kmask, pad_local, pad_f, mask)
    for a, b in zip(alone, padded, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    unmasked = model.scorer(tokens, tmask, text, kws, kmask, pad_local, pad_f)
    assert not torch.allclose(alone[2], unmasked[2], atol=1e-4)  # the mask is what did it


def test_keyword_path_changes_local_text_features() -> None:
    heads = _tiny().scorer.text
    tokens, kws = torch.randn(2, 6, 24), torch.randn(2, 3, 24)
    with_kw = heads.local(tokens, kws, torch.ones(2, 3))
    without = heads.local(tokens, kws, torch.zeros(2, 3))
    assert not torch.allclose(with_kw, without, atol=1e-4)
    assert torch.allclose(without, heads.proj(tokens))  # no keywords -> plain w
    other = heads.local(tokens, torch.randn(2, 3, 24), torch.ones(2, 3))
    assert not torch.allclose(with_kw, other, atol=1e-4)  # depends on WHICH keywords


class _FixedWeights(torch.nn.Module):
    """Stand-in adaptive weight layer returning given per-frame weights."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = a

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.a.expand(h.shape[0], -1)


def test_lower_adaptive_weight_lowers_an_unrelated_frames_contribution() -> None:
    """Constructed case: 3 frames match the text, frame 3 is unrelated. Down-weighting frame 3
    (what the adaptive weight layer is for) shrinks its term and raises the pair's fine score
    towards the score of the relevant frames alone."""
    model = _tiny()
    heads, scorer = model.scorer.text, model.scorer
    tokens = torch.randn(1, 4, 24)
    we = heads.proj(tokens).detach()
    u = F.normalize(we.mean(1), dim=-1)  # the text's direction in D
    unrelated = F.normalize(torch.randn(1, 16) - (torch.randn(1, 16) @ u.T) * u - 2 * u, dim=-1)
    h = torch.cat([u.repeat(3, 1) + 0.05 * torch.randn(3, 16), unrelated]).unsqueeze(0)
    mask = torch.ones(1, 4)

    def fine_with(a: torch.Tensor) -> tuple[float, float]:
        local = a[:, :, None] * F.normalize(h, dim=-1)
        s = torch.einsum("nld,ntd->nlt", F.normalize(we, dim=-1), local) / a.max()
        return float(scorer.fine(we, mask, local)), float(s.amax(dim=1)[0, 3].abs())

    uniform, uniform_term = fine_with(torch.tensor([[0.9, 0.9, 0.9, 0.9]]))
    lowered, lowered_term = fine_with(torch.tensor([[0.9, 0.9, 0.9, 0.05]]))
    relevant_only = float(scorer.fine(we, mask, F.normalize(h[:, :3], dim=-1)))
    assert lowered_term < 0.1 * uniform_term
    assert lowered > uniform
    assert abs(lowered - relevant_only) < abs(uniform - relevant_only)
    # Wiring: the weight layer's output is what scales the local features.
    fixed = _FixedWeights(torch.tensor([[0.9, 0.9, 0.9, 0.05]]))
    model.video.weights = fixed  # type: ignore[assignment]
    _, local, _, a = model.video.from_features(torch.randn(2, 4, 16))
    assert torch.allclose(local.norm(dim=-1), a) and float(a[0, 3]) == pytest.approx(0.05)


def test_colour_histogram_frame_features() -> None:
    torch.manual_seed(0)
    model = build_text_video_model({**TINY, "colour_bins": 2}, with_text_encoder=False).eval()
    frames = torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8)
    frames[0, 1, ..., 0] = 255  # second frame pure red
    hist = model.video.colour_histogram(frames[0])
    assert hist.shape == (2, 8) and torch.allclose(hist.sum(1), torch.ones(2))
    assert float(hist[0, 0]) == 1.0 and float(hist[1, 4]) == 1.0  # black; r=1,g=0,b=0
    assert model.video.frame_features(frames).shape == (1, 2, 16 + 8)
    emb, local, f = model.video(frames)
    assert emb.shape == (1, 12) and local.shape == (1, 2, 16) and f.shape == (1, 2, 16)


def test_weight_floor_keeps_every_frame_weight_above_it() -> None:
    """With the scoring layer pushed far negative (what training did to a release), the
    plain sigmoid weights underflow to 0 and the fine score dies; the floor keeps them."""
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (1, 4, 32, 32, 3), dtype=torch.uint8)
    for floor in (0.0, 0.05):
        model = build_text_video_model({**TINY, "weight_floor": floor},
                                       with_text_encoder=False).eval()
        with torch.no_grad():
            model.video.weights.score.bias.fill_(-200.0)
            _, local, _ = model.video(frames)
        a = local.norm(dim=-1)
        if floor:
            assert bool((a >= floor - 1e-6).all())
        else:
            assert bool((a == 0).all())
