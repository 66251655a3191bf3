"""Tag suggestions (seed 004): the video feature network and the tag encoder.

A video and every tag of a live library are embedded in one space; the nearest tags are
suggested. The video side has one branch per modality (frames, MFCC sound, title), one
fully connected layer per modality to a common size, then a fusion. The seed prefers a
mixture of experts: a learned gate scores each modality and the softmax of the scores over
the modalities *present* weights the sum. A missing modality (silent video, empty title) is
masked out of that softmax, never zero-filled, so the feature of a video without sound is
exactly the feature its frames and title give alone.

Frame features come precomputed from the semantic encoder ([B,T,F]) so training can cache
them; the served ``VideoTagEncoder`` runs the semantic encoder on raw frames itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from vidsearch.networks.semantic import SemanticEncoder
from vidsearch.networks.text_encoder import TEXT_DIM, build_text_encoder, masked_mean

MODALITIES = ("frames", "audio", "title")
MFCC_DIM = 13


def tsn_indices(num_frames: int, segments: int, windows: int = 1,
                generator: torch.Generator | None = None) -> list[list[int]]:
    """TSN sparse sampling: frame indices [windows][segments] of a ``num_frames`` video.

    The video is cut into ``windows`` consecutive windows (P; 1 for short videos), each
    into ``segments`` equal segments (O). With a ``generator`` (training) one random frame
    is drawn per segment, without it (inference) the centre frame is taken. A video shorter
    than P×O repeats frames rather than failing.
    """
    if num_frames < 1 or segments < 1 or windows < 1:
        raise ValueError("num_frames, segments and windows must be >= 1")
    total = segments * windows
    bounds = [k * num_frames // total for k in range(total + 1)]
    picks = []
    for k in range(total):
        lo = min(bounds[k], num_frames - 1)
        hi = max(bounds[k + 1], lo + 1)  # empty segment (short video): its first frame
        if generator is None:
            picks.append((lo + hi - 1) // 2)
        else:
            picks.append(lo + int(torch.randint(hi - lo, (1,), generator=generator)))
    return [picks[w * segments:(w + 1) * segments] for w in range(windows)]


class TagVideoConfig(BaseModel):
    """Architecture of the video feature network for tags."""

    model_config = ConfigDict(extra="forbid")

    frame_dim: int = Field(default=256, ge=1, description="semantic encoder feature size F")
    dim: int = Field(default=256, ge=2, description="common size of experts and tag space")
    temporal: Literal["mean", "gru"] = Field(
        default="mean", description="fuse frame features in time: mean pooling or a GRU")
    frame_hidden: int = Field(default=256, ge=1, description="GRU width (temporal = gru)")
    audio_hidden: int = Field(default=64, ge=1, description="width of the MFCC 1-D convs")
    text_dim: int = Field(default=TEXT_DIM, ge=1, description="MiniLM title embedding size")
    fusion: Literal["moe", "concat", "mean"] = Field(
        default="moe", description="mixture of experts (seed); concat and mean are baselines")
    scenes: int = Field(default=8, ge=1, description="equal runs of frames a video's scene "
                        "features pool (served beside the video feature: suggestions score a "
                        "tag by the video and by its best-matching scene)")


def _any(mask: Tensor) -> Tensor:
    """Per row: whether any position of ``mask`` [B,...] is set -> bool [B]."""
    return mask.flatten(1).to(torch.bool).any(dim=1)


def scene_pool(x: Tensor, mask: Tensor, scenes: int) -> Tensor:
    """[B,T,D] features, [B,T] mask (real frames first) -> [B,S,D]: the mean of each of
    ``scenes`` equal runs of a video's real frames; a run shorter than one frame takes the
    frame it starts on. Index arithmetic only, so it exports for any T."""
    length = mask.to(x.dtype).sum(dim=1, keepdim=True)  # [B,1]
    j = torch.arange(scenes, device=x.device).to(x.dtype)[None]  # [1,S]
    start = torch.floor(j * length / scenes)
    end = torch.maximum(torch.floor((j + 1) * length / scenes), start + 1)
    t = torch.arange(x.shape[1], device=x.device).to(x.dtype)[None, None]  # [1,1,T]
    w = ((t >= start.unsqueeze(-1)) & (t < end.unsqueeze(-1))).to(x.dtype)  # [B,S,T]
    w = w * mask.to(x.dtype).unsqueeze(1)
    return torch.einsum("bst,btd->bsd", w, x) / w.sum(dim=-1, keepdim=True).clamp(min=1.0)


class FrameBranch(nn.Module):
    """Per-frame features [B,T,F] fused in time (masked mean, or a GRU then masked mean)."""

    def __init__(self, cfg: TagVideoConfig) -> None:
        super().__init__()
        self.gru = (nn.GRU(cfg.frame_dim, cfg.frame_hidden, batch_first=True)
                    if cfg.temporal == "gru" else None)
        self.out_dim = cfg.frame_hidden if self.gru is not None else cfg.frame_dim

    def per_frame(self, frames: Tensor) -> Tensor:
        """[B,T,F] -> [B,T,out_dim], before the pooling in time."""
        # Padding sits after the real frames, so a forward GRU's real outputs ignore it.
        return self.gru(frames)[0] if self.gru is not None else frames

    def forward(self, frames: Tensor, frame_mask: Tensor) -> Tensor:
        return masked_mean(self.per_frame(frames), frame_mask)


class AudioBranch(nn.Module):
    """MFCC sequence [B,N,13] -> two 1-D convs -> masked mean over the sound frames."""

    def __init__(self, cfg: TagVideoConfig) -> None:
        super().__init__()
        h = cfg.audio_hidden
        self.convs = nn.ModuleList([nn.Conv1d(MFCC_DIM, h, kernel_size=5, padding=2),
                                    nn.Conv1d(h, h, kernel_size=5, padding=2)])
        self.out_dim = h

    def forward(self, mfcc: Tensor, mfcc_mask: Tensor) -> Tensor:
        # Zeroing padded steps before each conv keeps real outputs independent of padding.
        keep = mfcc_mask.to(mfcc.dtype).unsqueeze(1)  # [B,1,N]
        x = mfcc.transpose(1, 2)
        for conv in self.convs:
            x = torch.relu(conv(x * keep))
        return masked_mean(x.transpose(1, 2), mfcc_mask)


class ModalityFusion(nn.Module):
    """Experts {modality: [B,D]} with presence {modality: bool [B]} -> video feature [B,D].

    Modalities absent from the dict count as missing for every row, so the same module
    fuses any subset: that is what the masking test compares against.
    """

    def __init__(self, kind: Literal["moe", "concat", "mean"], dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.gates = (nn.ModuleDict({m: nn.Linear(dim, 1) for m in MODALITIES})
                      if kind == "moe" else None)
        self.concat = nn.Linear(dim * len(MODALITIES), dim) if kind == "concat" else None

    def forward(self, experts: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        some = next(iter(experts.values()))
        feats, masks = [], []
        for m in MODALITIES:
            if m in experts:
                on = present[m].to(torch.bool)
                # where(), not a product: the missing branch gets exactly zero gradient.
                feats.append(torch.where(on.unsqueeze(-1), experts[m], torch.zeros_like(some)))
                masks.append(on)
            else:
                feats.append(torch.zeros_like(some))
                masks.append(torch.zeros(some.shape[0], dtype=torch.bool, device=some.device))
        x, on = torch.stack(feats, dim=1), torch.stack(masks, dim=1)  # [B,M,D], [B,M]
        if self.concat is not None:
            # The baseline cannot mask a slot away: a missing one is an exact zero input.
            return self.concat(x.flatten(1))
        if self.gates is None:  # mean of the present experts
            w = on.to(x.dtype)
        else:
            scores = torch.cat([self.gates[m](x[:, i]) for i, m in enumerate(MODALITIES)], 1)
            scores = scores.masked_fill(~on, torch.finfo(x.dtype).min)
            w = torch.softmax(scores, dim=1) * on.to(x.dtype)
        w = w / w.sum(dim=1, keepdim=True).clamp(min=1e-12)
        return (w.unsqueeze(-1) * x).sum(dim=1)


class TagVideoNetwork(nn.Module):
    """Frames [B,T,F], MFCC [B,N,13], title [B,384] (+ masks) -> video tag feature [B,D].

    Masks: ``frame_mask`` [B,T] and ``mfcc_mask`` [B,N] mark real positions; a row whose
    mask is all zero has no such modality. ``title_mask`` [B] says whether a title exists.
    """

    def __init__(self, cfg: TagVideoConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.frames = FrameBranch(cfg)
        self.audio = AudioBranch(cfg)
        self.project = nn.ModuleDict({
            "frames": nn.Linear(self.frames.out_dim, cfg.dim),
            "audio": nn.Linear(self.audio.out_dim, cfg.dim),
            "title": nn.Linear(cfg.text_dim, cfg.dim),
        })
        self.fusion = ModalityFusion(cfg.fusion, cfg.dim)

    def experts(self, frames: Tensor, frame_mask: Tensor, mfcc: Tensor, mfcc_mask: Tensor,
                title: Tensor, title_mask: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Each modality projected to the common size, and whether it is present per row."""
        feats = {"frames": self.frames(frames, frame_mask), "audio": self.audio(mfcc, mfcc_mask),
                 "title": title}
        experts = {m: self.project[m](f) for m, f in feats.items()}
        present = {"frames": _any(frame_mask), "audio": _any(mfcc_mask),
                   "title": _any(title_mask.unsqueeze(-1))}
        return experts, present

    def forward(self, frames: Tensor, frame_mask: Tensor, mfcc: Tensor, mfcc_mask: Tensor,
                title: Tensor, title_mask: Tensor) -> Tensor:
        return self.fusion(*self.experts(frames, frame_mask, mfcc, mfcc_mask, title, title_mask))

    def scene_features(self, frames: Tensor, frame_mask: Tensor) -> Tensor:
        """Frames [B,T,F] -> [B,S,D]: the frames-only feature of each scene (``cfg.scenes``
        equal runs of frames), fused as a video with sound and title missing is (for moe and
        mean fusion that is the frames expert itself). A video carries tags of several
        scenes; one vector cannot sit near all of them, its best scene can."""
        pooled = scene_pool(self.frames.per_frame(frames), frame_mask, self.cfg.scenes)
        expert = self.project["frames"](pooled)
        b, s, d = expert.shape
        flat = expert.reshape(b * s, d)
        present = {"frames": torch.ones(b * s, dtype=torch.bool, device=flat.device)}
        return self.fusion({"frames": flat}, present).reshape(b, s, -1)


def build_tag_video_network(config: TagVideoConfig | dict[str, Any]) -> TagVideoNetwork:
    """From a checkpoint's config dict (validated) or a config."""
    return TagVideoNetwork(TagVideoConfig.model_validate(config))


class VideoTagEncoder(nn.Module):
    """Served ``video_tag_encoder``: uint8 frames [B,T,S,S,3] -> (tag feature [B,D], scene
    tag features [B,cfg.scenes,D]).

    The contract carries frames only, so sound and title are served as missing (masked)
    modalities: a frames-only feature until the contract grows MFCC and title inputs.
    """

    def __init__(self, semantic: SemanticEncoder, network: TagVideoNetwork) -> None:
        super().__init__()
        self.semantic, self.network = semantic, network

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.semantic(frames)  # [B,T,F]
        b, t = feats.shape[:2]
        frame_mask = torch.ones(b, t, dtype=feats.dtype, device=feats.device)
        mfcc = feats.new_zeros(b, 1, MFCC_DIM)
        title = feats.new_zeros(b, self.network.cfg.text_dim)
        video = self.network(feats, frame_mask, mfcc, mfcc[..., 0], title, title[:, 0])
        return video, self.network.scene_features(feats, frame_mask)


class TagEncoder(nn.Module):
    """Tag texts (input_ids, attention_mask) -> tag embedding [B,D].

    The MiniLM encoder stays frozen (its weights and eval mode), only the projection
    learns; one module embeds positive and negative tags alike (shared weights).
    """

    def __init__(self, text_encoder: nn.Module, dim: int, text_dim: int = TEXT_DIM) -> None:
        super().__init__()
        self.text_encoder = text_encoder.eval()
        self.text_encoder.requires_grad_(False)
        self.projection = nn.Linear(text_dim, dim)

    def train(self, mode: bool = True) -> TagEncoder:
        super().train(mode)
        self.text_encoder.eval()  # frozen: dropout stays off while the projection trains
        return self

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        _, text = self.text_encoder(input_ids, attention_mask)
        return self.projection(text)


def build_tag_encoder(dim: int, path: str | Path | None = None) -> TagEncoder:
    """The tag encoder on the bundled all-MiniLM-L6-v2 (frozen) with a fresh projection."""
    return TagEncoder(build_text_encoder(path), dim)
