"""Video captioner with a reconstructor (seed 000, RecNet): frames -> a sentence.

- Encoder: the frozen semantic frame features (``networks.semantic``; not the copy
  descriptor, which is taught to ignore colour and direction) in time order, standardised
  with the training set's statistics and projected to the decoder's width (``memory``),
  plus each frame's place in the video (attention has no other sense of time order).
- Decoder (claim 3): an LSTM that, at each word, pools the memory by its **mean** or by
  **temporal attention** on the previous hidden state (``pooling``), and reads the word
  from the hidden state and the pooled context.
- Reconstructor, regularising the decoder: **global** (claims 4-5) runs an LSTM over each
  decoder hidden state together with their mean and rebuilds the mean frame feature;
  **local** (claims 6-7) attends over the hidden states once per frame and rebuilds each
  frame feature. Losses are Euclidean distances to the (standardised) frame features,
  divided by sqrt(feature_dim) so that lambda does not depend on the feature width.

``step`` is the one-word decoder the orchestrator loops over (``inference.caption_search``);
``forward`` runs it under teacher forcing for training.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

# The fixed ids of the special tokens in every vocabulary (the served contract).
from vidsearch.contract.caption_words import BOS, EOS, PAD, UNK  # noqa: F401


class CaptionerConfig(BaseModel):
    """Sizes and switches of the captioner (``feature_dim``/``vocab_size`` come from data)."""

    model_config = ConfigDict(extra="forbid")

    feature_dim: int = Field(default=554, ge=1, description="semantic frame feature width")
    vocab_size: int = Field(default=8, ge=5)
    hidden: int = Field(default=256, ge=8)
    embed: int = Field(default=128, ge=8)
    attention_dim: int = Field(default=128, ge=8)
    pooling: Literal["mean", "attention"] = "attention"
    reconstructor: Literal["none", "global", "local"] = "global"
    recon_hidden: int = Field(default=256, ge=8)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    position_bands: int = Field(
        default=8, ge=0, description="sin/cos bands of each frame's place in the video added "
        "to the memory, so attention can move on scene by scene (0: none)")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [B,N,D] over the rows where ``mask`` [B,N] is 1."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


def frame_positions(mask: Tensor, bands: int) -> Tensor:
    """Where each frame is in its video (0 first .. 1 last real frame) as sin/cos of
    ``bands`` frequencies: [B,T] -> [B,T,2*bands]."""
    n = mask.sum(1, keepdim=True).clamp(min=2.0) - 1.0
    where = torch.cumsum(torch.ones_like(mask), dim=1).sub(1.0) / n  # [B,T]
    freq = torch.arange(1, bands + 1, dtype=mask.dtype, device=mask.device) * (math.pi / 2)
    angle = where.unsqueeze(-1) * freq
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


class AdditiveAttention(nn.Module):
    """Bahdanau attention: softmax_i(w . tanh(W_k k_i + W_q q)) over the unmasked keys."""

    def __init__(self, key_dim: int, query_dim: int, dim: int) -> None:
        super().__init__()
        self.key = nn.Linear(key_dim, dim)
        self.query = nn.Linear(query_dim, dim, bias=False)
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, keys: Tensor, mask: Tensor, query: Tensor,
                projected: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """keys [B,N,K], mask [B,N], query [B,Q] -> (pooled [B,K], weights [B,N]).

        ``projected``: ``self.key(keys)``, when the caller reuses it over many queries."""
        k = self.key(keys) if projected is None else projected
        e = self.score(torch.tanh(k + self.query(query).unsqueeze(1))).squeeze(-1)
        w = e.masked_fill(mask <= 0, -1e9).softmax(dim=-1)
        return (w.unsqueeze(-1) * keys).sum(1), w


class Captioner(nn.Module):
    """Encoder + word decoder; ``reconstructor`` is built separately (training only)."""

    feat_mean: Tensor
    feat_std: Tensor

    def __init__(self, cfg: CaptionerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.register_buffer("feat_mean", torch.zeros(cfg.feature_dim))
        self.register_buffer("feat_std", torch.ones(cfg.feature_dim))
        self.frame_proj = nn.Linear(cfg.feature_dim, h)
        self.position = nn.Linear(2 * cfg.position_bands, h) if cfg.position_bands else None
        self.init_state = nn.Linear(h, 2 * h)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed, padding_idx=PAD)
        self.attention = (AdditiveAttention(h, h, cfg.attention_dim)
                          if cfg.pooling == "attention" else None)
        self.cell = nn.LSTMCell(cfg.embed + h, h)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(2 * h, cfg.vocab_size)

    def standardise(self, feats: Tensor) -> Tensor:
        """Frame features in training-set units (also the reconstruction target)."""
        return (feats - self.feat_mean) / self.feat_std

    def encode(self, feats: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Frame features [B,T,F] + mask [B,T] -> memory [B,T,H], initial h, c [B,H]."""
        x = self.frame_proj(self.standardise(feats))
        if self.position is not None:
            x = x + self.position(frame_positions(mask, self.cfg.position_bands))
        memory = self.drop(F.relu(x))
        h0, c0 = torch.tanh(self.init_state(masked_mean(memory, mask))).chunk(2, dim=-1)
        return memory, h0.contiguous(), c0.contiguous()

    def pool(self, memory: Tensor, mask: Tensor, h: Tensor,
             keys: Tensor | None = None) -> Tensor:
        """Claim 3: the frames integrated for this word, by mean or by temporal attention."""
        if self.attention is None:
            return masked_mean(memory, mask)
        return self.attention(memory, mask, h, keys)[0]

    def step(self, words: Tensor, h: Tensor, c: Tensor, memory: Tensor, mask: Tensor,
             keys: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One word: previous words [B] and state -> next-word logits [B,V], new h, c.

        ``keys``: the attention's projection of ``memory``, computed once per sentence
        in training (the served step recomputes it: a few frames, a few rows)."""
        ctx = self.pool(memory, mask, h, keys)
        h, c = self.cell(torch.cat([self.embed(words), ctx], dim=-1), (h, c))
        return self.out(self.drop(torch.cat([h, ctx], dim=-1))), h, c

    def forward(self, feats: Tensor, mask: Tensor, words: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing: input words [B,L] (BOS first) -> logits [B,L,V], hidden [B,L,H]."""
        memory, h, c = self.encode(feats, mask)
        keys = self.attention.key(memory) if self.attention is not None else None
        logits, hidden = [], []
        for t in range(words.shape[1]):
            out, h, c = self.step(words[:, t], h, c, memory, mask, keys)
            logits.append(out)
            hidden.append(h)
        return torch.stack(logits, 1), torch.stack(hidden, 1)


def global_reconstruction_loss(rebuilt: Tensor, target: Tensor) -> Tensor:
    """Claim 5: Euclidean distance [B,F] -> mean over the batch, / sqrt(F)."""
    return ((rebuilt - target).norm(dim=-1) / math.sqrt(target.shape[-1])).mean()


def local_reconstruction_loss(rebuilt: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Claim 7: per frame Euclidean distance [B,T,F], mean over each video's real frames
    (``mask`` [B,T]), then over the batch; / sqrt(F) as the global loss."""
    dist = (rebuilt - target).norm(dim=-1) / math.sqrt(target.shape[-1])
    return ((dist * mask).sum(1) / mask.sum(1).clamp(min=1.0)).mean()


class GlobalReconstructor(nn.Module):
    """Each decoder hidden state with their mean -> LSTM -> mean -> the mean frame feature."""

    def __init__(self, hidden: int, recon_hidden: int, feature_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2 * hidden, recon_hidden, batch_first=True)
        self.out = nn.Linear(recon_hidden, feature_dim)

    def forward(self, hidden: Tensor, word_mask: Tensor) -> Tensor:
        """hidden [B,L,H], word_mask [B,L] -> rebuilt global feature [B,F]."""
        mean = masked_mean(hidden, word_mask).unsqueeze(1).expand_as(hidden)
        z, _ = self.lstm(torch.cat([hidden, mean], dim=-1))
        return self.out(masked_mean(z, word_mask))

    def loss(self, hidden: Tensor, word_mask: Tensor, frames: Tensor,
             frame_mask: Tensor) -> Tensor:
        return global_reconstruction_loss(self(hidden, word_mask),
                                          masked_mean(frames, frame_mask))


class LocalReconstructor(nn.Module):
    """Per frame: temporal attention over the decoder hidden states -> LSTM -> that frame."""

    def __init__(self, hidden: int, recon_hidden: int, feature_dim: int,
                 attention_dim: int) -> None:
        super().__init__()
        self.attention = AdditiveAttention(hidden, recon_hidden, attention_dim)
        self.cell = nn.LSTMCell(hidden, recon_hidden)
        self.out = nn.Linear(recon_hidden, feature_dim)
        self.recon_hidden = recon_hidden

    def forward(self, hidden: Tensor, word_mask: Tensor, n_frames: int) -> Tensor:
        """hidden [B,L,H], word_mask [B,L] -> rebuilt frame features [B,T,F]."""
        z = hidden.new_zeros(hidden.shape[0], self.recon_hidden)
        c = torch.zeros_like(z)
        rebuilt = []
        for _ in range(n_frames):
            local, _ = self.attention(hidden, word_mask, z)
            z, c = self.cell(local, (z, c))
            rebuilt.append(self.out(z))
        return torch.stack(rebuilt, 1)

    def loss(self, hidden: Tensor, word_mask: Tensor, frames: Tensor,
             frame_mask: Tensor) -> Tensor:
        return local_reconstruction_loss(self(hidden, word_mask, frames.shape[1]), frames,
                                         frame_mask)


Reconstructor = GlobalReconstructor | LocalReconstructor


def build_reconstructor(cfg: CaptionerConfig) -> Reconstructor | None:
    """The reconstructor ``cfg`` selects (None: plain encoder-decoder)."""
    if cfg.reconstructor == "global":
        return GlobalReconstructor(cfg.hidden, cfg.recon_hidden, cfg.feature_dim)
    if cfg.reconstructor == "local":
        return LocalReconstructor(cfg.hidden, cfg.recon_hidden, cfg.feature_dim,
                                  cfg.attention_dim)
    return None


class CaptionEncoderModel(nn.Module):
    """Served ``caption_encoder``: uint8 frames [B,T,S,S,3] -> memory, h0, c0."""

    def __init__(self, frames: nn.Module, captioner: Captioner) -> None:
        super().__init__()
        self.frames, self.captioner = frames, captioner

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feats = self.frames(frames)
        return self.captioner.encode(feats, feats.new_ones(feats.shape[:2]))


class CaptionStepModel(nn.Module):
    """Served ``caption_step``: one word with explicit state -> log-probabilities, h, c."""

    def __init__(self, captioner: Captioner) -> None:
        super().__init__()
        self.captioner = captioner

    def forward(self, words: Tensor, h: Tensor, c: Tensor, memory: Tensor,
                frame_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, h, c = self.captioner.step(words, h, c, memory, frame_mask)
        return logits.log_softmax(dim=-1), h, c
