"""Captioner networks (seed 000): both reconstructors' losses on hand-computed tensors, the
decoder's pooling switch and masks, and greedy vs beam search on a toy decoder whose best
sentence greedy decoding misses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidsearch.inference.caption_search import beam_search, greedy
from vidsearch.networks.captioner import (
    BOS,
    EOS,
    Captioner,
    CaptionerConfig,
    GlobalReconstructor,
    LocalReconstructor,
    build_reconstructor,
    global_reconstruction_loss,
    local_reconstruction_loss,
)


def test_global_loss_is_the_euclidean_distance_to_the_mean_feature() -> None:
    # video 0: distance sqrt(3^2 + 4^2) = 5; video 1: distance 0; F = 2 -> / sqrt(2)
    rebuilt = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert float(global_reconstruction_loss(rebuilt, target)) == pytest.approx(
        (5.0 + 0.0) / 2 / math.sqrt(2))


def test_local_loss_averages_frame_distances_over_real_frames_only() -> None:
    # one video, three frames, the last one padding: distances 5 and 1 -> mean 3
    rebuilt = torch.tensor([[[3.0, 4.0], [1.0, 0.0], [100.0, 100.0]]])
    target = torch.zeros(1, 3, 2)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert float(local_reconstruction_loss(rebuilt, target, mask)) == pytest.approx(
        3.0 / math.sqrt(2))


def test_global_reconstructor_loss_uses_mean_of_real_frames_and_ignores_padded_words() -> None:
    torch.manual_seed(0)
    recon = GlobalReconstructor(hidden=4, recon_hidden=3, feature_dim=2)
    hidden = torch.randn(1, 3, 4)
    words = torch.tensor([[1.0, 1.0, 0.0]])
    frames = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [50.0, 50.0]]])
    frame_mask = torch.tensor([[1.0, 1.0, 0.0]])
    with torch.no_grad():
        rebuilt = recon(hidden, words)
        expected = (rebuilt - torch.tensor([[1.0, 1.0]])).norm() / math.sqrt(2)
        loss = recon.loss(hidden, words, frames, frame_mask)
    assert float(loss) == pytest.approx(float(expected))
    padded = hidden.clone()
    padded[0, 2] = 99.0  # a padded word's hidden state changes nothing
    assert torch.allclose(recon(padded, words), rebuilt)


def test_local_reconstructor_rebuilds_one_feature_per_frame() -> None:
    torch.manual_seed(0)
    recon = LocalReconstructor(hidden=4, recon_hidden=3, feature_dim=2, attention_dim=5)
    hidden, words = torch.randn(2, 5, 4), torch.ones(2, 5)
    words[1, 3:] = 0
    assert recon(hidden, words, n_frames=7).shape == (2, 7, 2)
    padded = hidden.clone()
    padded[1, 3:] = 99.0
    assert torch.allclose(recon(padded, words, 7), recon(hidden, words, 7), atol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
@pytest.mark.parametrize("reconstructor", ["none", "global", "local"])
def test_captioner_trains_every_variant(pooling: str, reconstructor: str) -> None:
    torch.manual_seed(0)
    cfg = CaptionerConfig(feature_dim=6, vocab_size=9, hidden=8, embed=8, attention_dim=8,
                          pooling=pooling, reconstructor=reconstructor, recon_hidden=8)
    model, recon = Captioner(cfg), build_reconstructor(cfg)
    assert (recon is None) == (reconstructor == "none")
    feats, mask = torch.randn(2, 4, 6), torch.ones(2, 4)
    words = torch.tensor([[BOS, 5, 6], [BOS, 7, 0]])
    logits, hidden = model(feats, mask, words)
    assert logits.shape == (2, 3, 9) and hidden.shape == (2, 3, 8)
    loss = logits.sum() + (recon.loss(hidden, (words > 0).float(), model.standardise(feats),
                                      mask) if recon else 0)
    loss.backward()
    assert model.frame_proj.weight.grad is not None
    assert (model.attention is None) == (pooling == "mean")


def test_padded_frames_change_no_word() -> None:
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(feature_dim=6, vocab_size=9, hidden=8, embed=8,
                                      attention_dim=8)).eval()
    feats = torch.randn(1, 4, 6)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    other = feats.clone()
    other[0, 3] = 40.0
    words = torch.tensor([[BOS, 5, 6]])
    assert torch.allclose(model(feats, mask, words)[0], model(other, mask, words)[0], atol=1e-6)


# Toy decoder: the state is the previous word. After BOS, "a" (3) is likelier than "b"
# (4), but "a" is followed by a coin toss while "b" is surely followed by "c". Sentences:
# "b c" 0.4 * 1.0 * 0.9 = 0.36 (the best), "a d" 0.6 * 0.5 * 1.0 = 0.30, "a c" 0.27;
# greedy commits to "a" and ends with "a c".
_V = 7  # 0 pad, 1 bos, 2 eos, 3 a, 4 b, 5 c, 6 d


def _toy_step(words: np.ndarray, h: np.ndarray, c: np.ndarray,
              rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = np.full((_V, _V), 1e-9)
    table[BOS, [3, 4]] = [0.6, 0.4]
    table[3, [5, 6]] = [0.5, 0.5]
    table[4, 5] = 1.0  # after "b": "c" surely
    table[5, EOS] = 0.9
    table[5, 6] = 0.1
    table[6, EOS] = 1.0
    probs = table[words] / table[words].sum(1, keepdims=True)
    state = words.astype(np.float32)[:, None].repeat(h.shape[1], 1)
    return np.log(probs), state, state


def test_beam_search_finds_the_best_sentence_greedy_misses() -> None:
    h = np.zeros((1, 2), np.float32)
    g = greedy(_toy_step, h, h, bos=BOS, eos=EOS, max_len=6)[0]
    assert g.ids[0] == 3  # greedy commits to "a"
    best = beam_search(_toy_step, h[0], h[0], bos=BOS, eos=EOS, max_len=6, beam=3)
    assert best.ids == (4, 5)
    assert best.log_prob == pytest.approx(math.log(0.4 * 1.0 * 0.9), abs=1e-6)
    assert best.log_prob > g.log_prob
    one = beam_search(_toy_step, h[0], h[0], bos=BOS, eos=EOS, max_len=6, beam=1)
    assert one.ids == g.ids  # a beam of one is greedy


def test_greedy_decodes_a_batch_and_stops_at_max_len() -> None:
    h = np.zeros((2, 2), np.float32)
    out = greedy(_toy_step, h, h, bos=BOS, eos=EOS, max_len=2)
    assert [d.ids for d in out] == [(3, 5), (3, 5)]  # cut after two words, no EOS
