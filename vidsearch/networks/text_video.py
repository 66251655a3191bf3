"""Text search: text-to-video retrieval with local feature enhancement and modal interaction
(after the CN patent of that name).

Video side (query-independent, indexable): frames -> our frame encoder (the copy descriptor
/ video embedder trunk instead of CLIP) -> projection + temporal transformer -> temporal
frame features f; mean pool -> video feature; local enhancement: [video feature ; f_i] -> LSTM ->
adaptive weight layer (FC, FC, self-attention, sigmoid) -> per-frame weights a_i.
Enhanced local video features are a_i * unit(h_i): a low weight shrinks that frame's
contribution to every similarity it takes part in.

Text side: all-MiniLM token features w and global feature t (``text_encoder``), keyword
features wk from the same encoder; we = w + CrossAttn(Q=w W_Q, K=wk W_K, V=wk W_V). The
residual is ours: without it a token keeps nothing of itself, only a keyword mixture.

Interaction: v = CrossAttn(Q=t W'_Q, K=f W'_K, V=f W'_V) -> LayerNorm -> (+ dropout(FC))
-> LayerNorm (X-Pool style reading of "LayerNorm, dropout, LayerNorm").
Score = fine (enhanced local video vs enhanced local text) + coarse (cos(v, t)).
Because v depends on the query it cannot be indexed: stage 1 uses a separate
query-independent embedding of the mean-pooled video feature in a joint text space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from vidsearch.networks.config import BackboneConfig
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.networks.text_encoder import TEXT_DIM, TextEncoder
from vidsearch.networks.video_hash import FrameEncoder, build_frame_encoder


class TextVideoConfig(BaseModel):
    """Architecture of the text search heads (the text encoder is fixed: all-MiniLM-L6-v2)."""

    model_config = ConfigDict(extra="forbid")

    visual: Literal["semantic", "copy_trunk"] = Field(
        default="semantic", description="frame encoder: the semantic encoder (facts kept) or "
        "a copy-detection/self-supervised trunk (``backbone``; colour histogram appended)")
    semantic: SemanticConfig = SemanticConfig()
    backbone: BackboneConfig = BackboneConfig()
    dim: int = Field(default=256, ge=8, description="interaction width D")
    embed_dim: int = Field(default=256, ge=8, description="stage 1 joint embedding size")
    heads: int = Field(default=4, ge=1)
    temporal_layers: int = Field(default=1, ge=1)
    max_frames: int = Field(default=64, ge=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    keywords: int = Field(default=4, ge=1, description="K keywords per text")
    keyword_words: int = Field(default=2, ge=1, description="L: words per keyword at most")
    text_dim: int = TEXT_DIM
    colour_bins: int = Field(default=4, ge=0, le=8, description="RGB histogram bins per "
                             "channel appended to the frame features (0 = off)")
    weight_floor: float = Field(
        default=0.0, ge=0, lt=1, description="lowest adaptive frame weight: a_t = floor + "
        "(1 - floor) * sigmoid; the fine score only reads the weights' ranking, so without a "
        "floor they can drift to exactly 0 and switch the fine score off")


class Attention(nn.Module):
    """Multi-head attention written out (export-safe: no fused fast path); mask 1 = keep."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by {heads} heads")
        self.heads, self.dh = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim or dim, dim)
        self.v = nn.Linear(kv_dim or dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, q: Tensor, kv: Tensor, mask: Tensor | None = None) -> Tensor:
        b, lq, _ = q.shape
        lk = kv.shape[1]
        qh = self.q(q).view(b, lq, self.heads, self.dh).transpose(1, 2)
        kh = self.k(kv).view(b, lk, self.heads, self.dh).transpose(1, 2)
        vh = self.v(kv).view(b, lk, self.heads, self.dh).transpose(1, 2)
        logits = qh @ kh.transpose(-1, -2) / math.sqrt(self.dh)
        if mask is not None:
            logits = logits + (mask.to(logits.dtype)[:, None, None, :] - 1.0) * 1e4
        out = (logits.softmax(dim=-1) @ vh).transpose(1, 2).reshape(b, lq, -1)
        result: Tensor = self.out(out)
        return result


class TemporalBlock(nn.Module):
    """Pre-norm transformer layer over the frame axis (text search's temporal encoder)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        y = self.n1(x)
        x = x + self.drop(self.attn(y, y))
        return x + self.drop(self.mlp(self.n2(x)))


class AdaptiveWeights(nn.Module):
    """Text-search adaptive weight layer: two FC layers, self-attention, sigmoid -> a [B,T]."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.attn = Attention(dim, heads)
        self.score = nn.Linear(dim, 1)

    def forward(self, h: Tensor) -> Tensor:
        x = self.fc(h)
        x = x + self.attn(x, x)
        return torch.sigmoid(self.score(x)).squeeze(-1)


class VideoSide(nn.Module):
    """Query-independent video side: everything that can be computed at index time."""

    def __init__(self, encoder: FrameEncoder | SemanticEncoder, cfg: TextVideoConfig) -> None:
        super().__init__()
        d = cfg.dim
        self.encoder = encoder
        self.colour_bins = cfg.colour_bins if isinstance(encoder, FrameEncoder) else 0
        self.in_proj = nn.Linear(encoder.feature_dim + self.colour_bins**3, d)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_frames, d))
        self.temporal = nn.ModuleList(
            TemporalBlock(d, cfg.heads, cfg.dropout) for _ in range(cfg.temporal_layers))
        self.lstm = nn.LSTM(2 * d, d, batch_first=True)
        self.weights = AdaptiveWeights(d, cfg.heads)
        self.weight_floor = cfg.weight_floor
        self.embed = nn.Linear(d, cfg.embed_dim)

    def colour_histogram(self, frames: Tensor) -> Tensor:
        """uint8 [N,S,S,3] -> joint RGB histogram [N,bins^3] (fractions of the pixels).

        Ours, not the patent's: the copy-descriptor trunk is trained to ignore colour shifts (copy
        detection), while captions name colours; the histogram gives them back, cheaply."""
        k, n = self.colour_bins, frames.shape[0]
        q = torch.div(frames.to(torch.int64) * k, 256, rounding_mode="floor")
        idx = (q[..., 0] * k + q[..., 1]) * k + q[..., 2]
        onehot = idx.reshape(n, -1, 1) == torch.arange(k**3, device=frames.device)
        return onehot.to(torch.float32).mean(dim=1)

    def frame_features(self, frames: Tensor) -> Tensor:
        """uint8 [B,T,S,S,3] -> frame features [B,T,F(+bins^3)]."""
        if isinstance(self.encoder, SemanticEncoder):
            out: Tensor = self.encoder(frames)
            return out
        b, t = frames.shape[:2]
        flat = frames.reshape(b * t, *frames.shape[2:])
        feats = self.encoder(flat)
        if self.colour_bins:
            feats = torch.cat([feats, 4.0 * self.colour_histogram(flat)], dim=-1)
        return feats.view(b, t, -1)

    def from_features(self, feats: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Frame features [B,T,F] -> (embedding [B,E], local [B,T,D], f [B,T,D], a [B,T])."""
        f = self.in_proj(feats) + self.pos[:, : feats.shape[1]]
        for block in self.temporal:
            f = block(f)
        video = f.mean(dim=1)
        h, _ = self.lstm(torch.cat([video.unsqueeze(1).expand_as(f), f], dim=-1))
        a = self.weight_floor + (1.0 - self.weight_floor) * self.weights(h)
        local = a.unsqueeze(-1) * F.normalize(h, dim=-1)
        return F.normalize(self.embed(video), dim=-1), local, f, a

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Served: uint8 frames -> (embedding, local_features, frame_features)."""
        emb, local, f, _ = self.from_features(self.frame_features(frames))
        return emb, local, f


class TextHeads(nn.Module):
    """Text-side heads on MiniLM features: projection, keyword enhancement, stage-1 embed."""

    def __init__(self, cfg: TextVideoConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(cfg.text_dim, cfg.dim)
        self.kw_attn = Attention(cfg.dim, cfg.heads)
        self.embed = nn.Linear(cfg.text_dim, cfg.embed_dim)

    def embedding(self, text: Tensor) -> Tensor:
        """Stage 1: global text feature [B,384] -> unit embedding [B,E]."""
        return F.normalize(self.embed(text), dim=-1)

    def local(self, tokens: Tensor, keywords: Tensor, kw_mask: Tensor) -> Tensor:
        """we = w + CrossAttn(Q=w, K/V=wk); texts without keywords keep w."""
        w, wk = self.proj(tokens), self.proj(keywords)
        has = kw_mask.to(w.dtype).amax(dim=-1, keepdim=True).unsqueeze(-1)
        out: Tensor = w + has * self.kw_attn(w, wk, kw_mask)
        return out


class Scorer(nn.Module):
    """Text-conditioned matching of aligned (text, video) rows: score = fine + coarse."""

    def __init__(self, cfg: TextVideoConfig) -> None:
        super().__init__()
        self.text = TextHeads(cfg)
        self.pool = Attention(cfg.dim, cfg.heads)
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.fc = nn.Linear(cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def conditioned_video(self, text: Tensor, f: Tensor, frame_mask: Tensor | None = None
                          ) -> Tensor:
        """v = LN(o + dropout(FC(o))), o = LN(CrossAttn(Q=t, K/V=f)) -> [N,D].

        ``frame_mask`` [N,T] (1 = real frame) lets videos of different lengths share a
        batch: padded frames get no attention."""
        o = self.ln1(self.pool(self.text.proj(text).unsqueeze(1), f, frame_mask).squeeze(1))
        out: Tensor = self.ln2(o + self.drop(self.fc(o)))
        return out

    def fine(self, we: Tensor, mask: Tensor, local: Tensor,
             frame_mask: Tensor | None = None) -> Tensor:
        """s = a_t cos(h_t, we_l) with a_t relative to the video's top weight, so only the
        RANKING of frames matters (absolute weights would just act as a temperature and
        saturate at 1). text->video: best frame per token; video->text: weighted mean."""
        a = local.norm(dim=-1)
        rel = 1.0 / a.amax(dim=1, keepdim=True).clamp(min=1e-6)
        s = torch.einsum("nld,ntd->nlt", F.normalize(we, dim=-1), local) * rel.unsqueeze(1)
        m = mask.to(s.dtype)
        real = s if frame_mask is None else s + (frame_mask.to(s.dtype)[:, None, :] - 1.0) * 1e4
        t2v = (real.amax(dim=2) * m).sum(1) / m.sum(1).clamp(min=1.0)
        best = (s + (m.unsqueeze(-1) - 1.0) * 1e4).amax(dim=1)  # [N,T] = a_t/max(a) * cos
        v2t = best.sum(1) / (a * rel).sum(1).clamp(min=1e-6)
        return 0.5 * (t2v + v2t)

    def matrix(self, tokens: Tensor, token_mask: Tensor, text: Tensor, keywords: Tensor,
               keyword_mask: Tensor, local: Tensor, f: Tensor) -> Tensor:
        """All texts [A] x all videos [B] -> score [A,B]; same maths as ``forward`` but the
        text side and the K/V projections run once, not once per pair (training/eval)."""
        we = F.normalize(self.text.local(tokens, keywords, keyword_mask), dim=-1)
        a = local.norm(dim=-1)
        rel = 1.0 / a.amax(dim=1, keepdim=True).clamp(min=1e-6)  # [B,1]
        s = torch.einsum("ald,btd->ablt", we, local) * rel[None, :, :, None]
        m = token_mask.to(s.dtype)[:, None, :]  # [A,1,L]
        t2v = (s.amax(dim=3) * m).sum(2) / m.sum(2).clamp(min=1.0)
        best = (s + (m.unsqueeze(-1) - 1.0) * 1e4).amax(dim=2)  # [A,B,T]
        fine = 0.5 * (t2v + best.sum(2) / (a * rel).sum(1)[None].clamp(min=1e-6))
        t = self.text.proj(text)
        att, (na, nb, nt) = self.pool, (text.shape[0], f.shape[0], f.shape[1])
        q = att.q(t).view(na, att.heads, att.dh)
        k = att.k(f).view(nb, nt, att.heads, att.dh)
        v = att.v(f).view(nb, nt, att.heads, att.dh)
        w = (torch.einsum("ahd,bthd->abht", q, k) / math.sqrt(att.dh)).softmax(dim=-1)
        o = self.ln1(att.out(torch.einsum("abht,bthd->abhd", w, v).reshape(na, nb, -1)))
        video = self.ln2(o + self.drop(self.fc(o)))
        coarse = F.cosine_similarity(video, t[:, None], dim=-1)
        out: Tensor = fine + coarse
        return out

    def forward(self, tokens: Tensor, token_mask: Tensor, text: Tensor, keywords: Tensor,
                keyword_mask: Tensor, local: Tensor, f: Tensor,
                frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Rows aligned (N pairs) -> (score [N], fine [N], coarse [N]).

        Padded frames must have zero ``local`` rows (weight 0: no fine-score share) and a
        0 in ``frame_mask`` (no share of the text-conditioned pooling)."""
        we = self.text.local(tokens, keywords, keyword_mask)
        fine = self.fine(we, token_mask, local, frame_mask)
        v = self.conditioned_video(text, f, frame_mask)
        coarse = F.cosine_similarity(v, self.text.proj(text), dim=-1)
        return fine + coarse, fine, coarse


class TextVideoModel(nn.Module):
    """Video side + scorer + (optionally) the frozen text encoder, for train and export."""

    def __init__(self, video: VideoSide, scorer: Scorer, text_encoder: TextEncoder | None,
                 cfg: TextVideoConfig) -> None:
        super().__init__()
        self.video = video
        self.scorer = scorer
        self.text_encoder = text_encoder
        self.cfg = cfg
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def score_matrix(self, tokens: Tensor, token_mask: Tensor, text: Tensor, keywords: Tensor,
                     keyword_mask: Tensor, local: Tensor, f: Tensor) -> Tensor:
        """All texts [Bt] x all videos [Bv] -> scores [Bt,Bv]."""
        return self.scorer.matrix(tokens, token_mask, text, keywords, keyword_mask, local, f)

    def mean_pool_similarity(self, text: Tensor, f: Tensor) -> Tensor:
        """Ablation (a): cos(mean-pooled video feature, global text) -> [Bt,Bv]."""
        t = F.normalize(self.scorer.text.proj(text), dim=-1)
        return t @ F.normalize(f.mean(dim=1), dim=-1).T


def model_config(config: Mapping[str, Any]) -> TextVideoConfig:
    """Accept a model section or a whole training config holding one under 'model'."""
    section = config.get("model")
    return TextVideoConfig.model_validate(dict(section if isinstance(section, Mapping)
                                               else config))


def build_text_video_model(config: Mapping[str, Any] | TextVideoConfig, *,
                           with_text_encoder: bool = True) -> TextVideoModel:
    """Rebuild the module; the text encoder comes from the local MiniLM weights."""
    cfg = config if isinstance(config, TextVideoConfig) else model_config(config)
    text_encoder: TextEncoder | None = None
    if with_text_encoder:
        from vidsearch.networks.text_encoder import build_text_encoder

        text_encoder = build_text_encoder()
    encoder = (SemanticEncoder(cfg.semantic) if cfg.visual == "semantic"
               else build_frame_encoder(cfg.backbone))
    video = VideoSide(encoder, cfg)
    return TextVideoModel(video, Scorer(cfg), text_encoder, cfg)

